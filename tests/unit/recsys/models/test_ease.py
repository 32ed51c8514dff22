import numpy as np
import pytest
import scipy.sparse as sp

from shared.recsys.models.ease import EASE, gram_matrix, newest_rank, reference_time
from shared.recsys.models.topn import (
    DISLIKED_BELOW,
    SCHEMES,
    MostPopular,
    confidence,
    confidence_values,
)
from shared.recsys.persist import decode, encode
from tests.unit.recsys.models.synthetic import low_rank_ratings
from tests.unit.recsys.models.taste_groups import ndcg_on_test_part, taste_group_fold


@pytest.fixture(scope="module")
def fold(tmp_path_factory):
    return taste_group_fold(tmp_path_factory.mktemp("taste"))


@pytest.fixture(scope="module")
def ratings():
    return low_rank_ratings(n_users=60, n_items=25, density=0.4)[0]


def brute_force_weights(X, l2):
    """Steck's closed form with dense float64 algebra: B = I - P diagMat(1/diag(P))."""
    P = np.linalg.inv(X.T @ X + l2 * np.eye(X.shape[1]))
    return np.eye(X.shape[1]) - P @ np.diag(1.0 / np.diag(P))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_weights_are_the_closed_form_with_a_zero_diagonal(ratings, scheme):
    model = EASE(l2=7.0, scheme=scheme, max_candidates=100).fit(ratings)
    assert model.weights_.dtype == np.float32
    assert np.all(np.diag(model.weights_) == 0.0)
    X = confidence(ratings, scheme).toarray()[:, model.items_]
    np.testing.assert_allclose(model.weights_, brute_force_weights(X, 7.0), atol=1e-5)


def test_scores_are_the_users_feedback_times_the_weights(ratings):
    model = EASE(l2=3.0, scheme="rating", max_candidates=100).fit(ratings)
    X = confidence(ratings, "rating").toarray()
    np.testing.assert_allclose(model.score_users([0, 5]), X[[0, 5]] @ model.weights_, atol=1e-5)


def test_only_the_most_rated_movies_are_kept_and_the_others_score_minus_infinity():
    X = sp.csr_matrix(np.array([[5, 4, 0, 3, 0], [4, 0, 0, 2, 0], [3, 5, 0, 0, 1.0]]))
    model = EASE(l2=1.0, max_items=3).fit(X)
    assert model.items_.tolist() == [0, 1, 3]
    scores = model.score_users([0, 1, 2])
    assert np.all(np.isneginf(scores[:, [2, 4]]))
    assert np.all(np.isfinite(scores[:, [0, 1, 3]]))
    everything = EASE(l2=1.0).fit(X)
    assert everything.items_.tolist() == [0, 1, 3, 4]  # movie 2 has no rating to learn from


def test_only_the_most_rated_candidates_are_recommended_with_the_full_models_scores(ratings):
    """Fewer candidates keep the inputs: the candidates score what the full model scores,
    every other movie ``-inf``, and the weights hold the full model's columns at them."""
    full = EASE(l2=5.0, max_candidates=100).fit(ratings)
    few = EASE(l2=5.0, max_candidates=8).fit(ratings)
    counts = np.bincount(ratings.indices, minlength=ratings.shape[1])
    assert len(few.candidates_) == 8 and set(few.candidates_) <= set(few.items_)
    assert counts[few.candidates_].min() >= counts[np.setdiff1d(few.items_, few.candidates_)].max()
    np.testing.assert_array_equal(few.items_, full.items_)
    assert few.weights_.shape == (len(few.items_), 8)
    # each rated movie's row is read whole on every request: rows must be contiguous
    assert few.weights_.flags.c_contiguous
    assert decode(*encode(few)).weights_.flags.c_contiguous
    np.testing.assert_array_equal(few.weights_,
                                  full.weights_[:, np.searchsorted(full.items_, few.candidates_)])
    scores, reference = few.score_users(np.arange(10)), full.score_users(np.arange(10))
    others = np.setdiff1d(np.arange(ratings.shape[1]), few.candidates_)
    assert np.all(np.isneginf(scores[:, others]))
    np.testing.assert_allclose(scores[:, few.candidates_], reference[:, few.candidates_], atol=1e-6)


def test_a_version_stored_before_candidates_recommends_every_kept_movie(ratings):
    """Versions trained before ``max_candidates`` hold no ``candidates_``: loaded, each of
    their movies is a candidate, as it was."""
    spec, arrays = encode(EASE(l2=5.0, max_items=20, max_candidates=20).fit(ratings))
    spec["arrays"].remove("candidates_")
    del spec["params"]["max_candidates"]
    old = decode(spec, arrays)
    np.testing.assert_array_equal(old.candidates_, old.items_)
    row = ratings[2]
    top, _, _ = old.top_one(row.indices, row.data, row.indices, 20)
    assert len(top) == min(20, len(np.setdiff1d(old.items_, row.indices)))


def test_fold_in_of_a_fitted_users_own_ratings_gives_their_scores(ratings):
    model = EASE(l2=5.0, scheme="signed").fit(ratings)
    np.testing.assert_array_equal(model.predict_unseen(ratings[:10]),
                                  model.score_users(np.arange(10)))


def test_a_new_rating_changes_the_fold_in_scores_by_that_movies_row(ratings):
    model = EASE(l2=5.0, scheme="binary").fit(ratings)
    row = ratings[3].toarray()
    new = np.flatnonzero(row[0] == 0)[0]
    before = model.predict_unseen(sp.csr_matrix(row))
    row[0, new] = 4.5
    after = model.predict_unseen(sp.csr_matrix(row))
    np.testing.assert_allclose(after - before, model.weights_[[new]], atol=1e-6)


def test_fold_in_rejects_another_catalogue(ratings):
    with pytest.raises(ValueError, match="movies, the model"):
        EASE().fit(ratings).predict_unseen(sp.csr_matrix((1, 3)))


def test_a_half_life_weighs_each_rating_in_the_gram_matrix_by_its_age(ratings):
    rng = np.random.default_rng(4)
    days = rng.integers(0, 2000, ratings.nnz)
    times = sp.csr_matrix((1.5e9 + days * 86400.0, ratings.indices, ratings.indptr),
                          shape=ratings.shape)
    model = EASE(l2=7.0, scheme="liked", max_candidates=100, half_life=365.0).fit(
        ratings, times=times)
    age = (days.max() - days) / 365.0
    weighted = sp.csr_matrix((confidence(ratings, "liked").data * 0.5 ** age, ratings.indices,
                              ratings.indptr), shape=ratings.shape).toarray()[:, model.items_]
    np.testing.assert_allclose(model.weights_, brute_force_weights(weighted, 7.0), atol=1e-5)
    # users are scored from all of their ratings, unweighted
    X = confidence(ratings, "liked").toarray()
    np.testing.assert_allclose(model.score_users([1]), X[[1]] @ model.weights_, atol=1e-5)
    plain = EASE(l2=7.0, scheme="liked", max_candidates=100).fit(ratings)
    np.testing.assert_array_equal(EASE(l2=7.0, scheme="liked", max_candidates=100,
                                       half_life=365.0).fit(ratings).weights_, plain.weights_)
    assert not np.allclose(model.weights_, plain.weights_)
    with pytest.raises(ValueError, match="times must have the entries of X"):
        EASE(half_life=365.0).fit(ratings, times=times[:, :-1])


def test_a_few_ratings_far_newer_than_the_rest_age_nothing():
    """The first live ratings after an import of years-old ones: ages still count from the
    imported ones' newest, and the live ones count as new (not more)."""
    X = low_rank_ratings(n_users=500, n_items=30, density=0.4)[0]
    assert newest_rank(X.nnz) >= 5  # the 5th newest or older: 4 may be far newer
    days = np.random.default_rng(5).integers(0, 2000, X.nnz).astype(np.float64)
    days[:4] = 2000 + 8 * 365  # eight years after the rest
    times = sp.csr_matrix((1.5e9 + days * 86400.0, X.indices, X.indptr), shape=X.shape)
    assert reference_time(times.data) == times.data[4:].max()
    as_of_the_rest = times.copy()
    as_of_the_rest.data[:4] = reference_time(times.data)
    model = EASE(l2=7.0, half_life=180.0).fit(X, times=times)
    np.testing.assert_allclose(model.weights_,
                               EASE(l2=7.0, half_life=180.0).fit(X, times=as_of_the_rest).weights_)
    assert np.abs(model.weights_).max() > 0.05  # not shrunk to nothing by l2


def test_a_popularity_exponent_divides_each_candidates_weights_by_its_popularity(ratings):
    plain = EASE(l2=7.0, max_candidates=20).fit(ratings)
    model = EASE(l2=7.0, max_candidates=20, popularity_exponent=0.3).fit(ratings)
    counts = np.bincount(confidence(ratings, "signed").indices, minlength=ratings.shape[1])
    np.testing.assert_allclose(model.weights_, plain.weights_ / counts[plain.candidates_] ** 0.3,
                               rtol=1e-5)
    users = np.arange(ratings.shape[0])
    assert not np.array_equal(np.argsort(-model.score_users(users), axis=1)[:, :5],
                              np.argsort(-plain.score_users(users), axis=1)[:, :5])
    # changed without fitting again, the model a fit gives, either way
    for start, goal in ((plain, model), (model, plain)):
        other = start.refitted(popularity_exponent=goal.popularity_exponent)
        assert other.popularity_exponent == goal.popularity_exponent
        np.testing.assert_allclose(other.weights_, goal.weights_, rtol=1e-5)
        np.testing.assert_allclose(other.score_one(np.array([0, 4]), np.array([4.5, 2.0])),
                                   goal.score_one(np.array([0, 4]), np.array([4.5, 2.0])),
                                   rtol=1e-5)
    assert plain.popularity_exponent == 0.0  # the model it started from is unchanged


def test_a_new_l2_refits_from_the_kept_gram_matrix_as_a_fit_does(ratings):
    start = EASE(l2=7.0, max_candidates=20, popularity_exponent=0.3).fit(ratings)
    goal = EASE(l2=50.0, max_candidates=20, popularity_exponent=0.1).fit(ratings)
    other = start.refitted(l2=50.0, popularity_exponent=0.1)
    np.testing.assert_array_equal(other.weights_, goal.weights_)
    assert start.l2 == 7.0 and not np.array_equal(start.weights_, goal.weights_)
    spec, arrays = encode(goal)
    assert not any("gram" in name for name in arrays)  # kept in the process only
    with pytest.raises(ValueError, match="Gram matrix"):
        decode(spec, arrays).refitted(l2=7.0)


def test_threads_compute_the_same_gram_matrix(ratings):
    X = confidence(ratings, "signed").astype(np.float32)
    np.testing.assert_array_equal(gram_matrix(X, n_jobs=3), gram_matrix(X))
    np.testing.assert_allclose(gram_matrix(X), (X.T @ X).toarray(), rtol=1e-6)


def test_bad_hyper_parameters_are_clear_errors(ratings):
    with pytest.raises(ValueError, match="l2"):
        EASE(l2=0).fit(ratings)
    with pytest.raises(ValueError, match="max_items"):
        EASE(max_items=0).fit(ratings)
    with pytest.raises(ValueError, match="max_candidates"):
        EASE(max_candidates=0).fit(ratings)
    with pytest.raises(ValueError, match="half_life"):
        EASE(half_life=0).fit(ratings)


def test_persistence_round_trip_scores_identically(ratings):
    model = EASE(l2=5.0, max_items=20).fit(ratings)
    spec, arrays = encode(model)
    loaded = decode(spec, arrays)
    np.testing.assert_array_equal(loaded.score_users(np.arange(8)), model.score_users(np.arange(8)))
    np.testing.assert_array_equal(loaded.predict_unseen(ratings[:4]),
                                  model.predict_unseen(ratings[:4]))


def test_fold_in_does_not_change_the_estimator(ratings):
    model = EASE(l2=5.0).fit(ratings)
    before = {name: value.copy() if isinstance(value, np.ndarray) or sp.issparse(value)
              else value for name, value in vars(model).items()}
    model.predict_unseen(ratings[:5])
    model.score_users([1, 2])
    assert vars(model).keys() == before.keys()
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(vars(model)[name], value)
        elif sp.issparse(value):
            assert (vars(model)[name] != value).nnz == 0
        else:
            assert vars(model)[name] == value


def test_it_ranks_better_than_the_most_popular_movies(fold):
    popular = ndcg_on_test_part(MostPopular().fit(fold.train), fold)
    ease = ndcg_on_test_part(EASE(l2=50.0).fit(fold.train), fold)
    assert ease > 2 * popular


@pytest.mark.parametrize("max_items, max_candidates", [(25, 25), (12, 12), (25, 9)])
def test_contributions_of_the_rated_movies_add_up_to_the_scores(ratings, max_items,
                                                                max_candidates):
    model = EASE(l2=5.0, max_items=max_items, max_candidates=max_candidates).fit(ratings)
    row = ratings[3]
    items = np.arange(ratings.shape[1])
    scores = model.predict_unseen(row)[0]
    parts = model.contributions(row.indices, row.data, items)
    assert parts.shape == (len(items), row.nnz)
    modelled = np.isin(items, model.candidates_)
    np.testing.assert_allclose(parts[modelled].sum(axis=1), scores[modelled], rtol=1e-4, atol=1e-5)
    assert not parts[~modelled].any()


@pytest.mark.parametrize("max_items, max_candidates", [(25, 25), (12, 12), (25, 9)])
@pytest.mark.parametrize("gather_elements, dense_share", [(10**9, 0.7), (0, 1.0), (0, 0.0)],
                         ids=["rows copied out", "sparse row", "dense product"])
def test_one_users_scores_are_their_row_of_the_batch_fold_in(ratings, max_items, max_candidates,
                                                            gather_elements, dense_share,
                                                            monkeypatch):
    """``score_one`` (the request path) sums a user's rows of B one of three ways, by their
    number; each gives ``predict_unseen``'s row, for a light and a heavy user."""
    from shared.recsys.models import ease

    monkeypatch.setattr(ease, "_GATHER_ELEMENTS", gather_elements)
    monkeypatch.setattr(ease, "_DENSE_SHARE", dense_share)
    model = EASE(l2=5.0, max_items=max_items, max_candidates=max_candidates).fit(ratings)
    heavy = ratings[int(np.argmax(np.diff(ratings.indptr)))]
    light = sp.csr_matrix((heavy.data[:2], heavy.indices[:2], [0, 2]), shape=heavy.shape)
    assert heavy.nnz > light.nnz > 0
    for row in (light, heavy):
        np.testing.assert_allclose(model.score_one(row.indices, row.data),
                                   model.predict_unseen(row)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_items, max_candidates", [(25, 25), (12, 12), (25, 9)])
def test_one_users_top_movies_are_the_best_of_their_fold_in_scores(ratings, max_items,
                                                                   max_candidates):
    """``top_one`` ranks the model's movies only; it gives what ranking all of
    ``predict_unseen``'s row gives, the excluded movies and those outside the model left out,
    and explains each by the rated movie that contributes most."""
    model = EASE(l2=5.0, max_items=max_items, max_candidates=max_candidates).fit(ratings)
    for user in range(0, ratings.shape[0], 7):
        row = ratings[user]
        excluded = np.r_[row.indices, [0, 1]]
        top, scores, because = model.top_one(row.indices, row.data, excluded, 5)
        full = model.predict_unseen(row)[0]
        full[excluded] = -np.inf
        expected = [i for i in np.argsort(-full, kind="stable") if full[i] > -np.inf][:5]
        assert not set(top) & set(excluded) and set(top) <= set(model.candidates_)
        np.testing.assert_allclose(scores, full[expected], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(full[top], full[expected], rtol=1e-5, atol=1e-6)
        # the explanation: the liked movie whose contribution to each score is largest
        liked = confidence_values(row.data, model.scheme) > 0
        parts = model.contributions(row.indices, row.data, top) * liked
        assert list(because) == [int(np.argmax(p)) if p.max() > 0 else -1 for p in parts]


def test_a_movie_rated_low_never_explains_a_pick(ratings):
    """With ``signed`` feedback a low rating times a negative weight adds to a score, but
    "because you rated it 1.5 stars" explains nothing to the user: it is never the reason."""
    model = EASE(l2=5.0, scheme="signed").fit(ratings)
    named = []
    for user in range(ratings.shape[0]):
        row = ratings[user]
        _, _, because = model.top_one(row.indices, row.data, row.indices, 10)
        named += [row.data[j] for j in because if j >= 0]
    assert named and min(named) >= DISLIKED_BELOW


def test_a_user_who_rated_none_of_its_inputs_gives_it_nothing_to_rank_by(ratings):
    model = EASE(l2=5.0, max_items=12).fit(ratings)
    outside = np.setdiff1d(np.arange(ratings.shape[1]), model.items_)[:2]
    inside = model.items_[:1]
    assert not model.can_rank(outside, np.array([5.0, 4.0]))
    assert not model.can_rank(np.r_[-1, inside], np.array([4.0, 0.0]))  # only favoured
    assert model.can_rank(np.r_[outside, inside], np.array([5.0, 4.0, 0.5]))


def test_the_model_is_documented_as_a_formula():
    assert EASE.__doc__.startswith("Each movie's score is a learned linear combination")
    assert "popularity_exponent" in EASE.__doc__
