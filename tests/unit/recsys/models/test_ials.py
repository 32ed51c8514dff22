import numpy as np
import pytest
import scipy.sparse as sp

from shared.recsys.models.ials import ImplicitALS
from shared.recsys.models.topn import MostPopular, confidence
from shared.recsys.persist import decode, encode
from tests.unit.recsys.models.synthetic import low_rank_ratings
from tests.unit.recsys.models.taste_groups import ndcg_on_test_part, taste_group_fold

SMALL = dict(n_factors=6, reg=0.05, unobserved_weight=0.5, n_iter=6)


@pytest.fixture(scope="module")
def fold(tmp_path_factory):
    return taste_group_fold(tmp_path_factory.mktemp("taste"))


@pytest.fixture(scope="module")
def ratings():
    return low_rank_ratings(n_users=70, n_items=40, density=0.3)[0]


def penalties(model, counts, n_other):
    return model.reg * (counts + model.unobserved_weight * n_other) ** model.reg_exponent


def brute_force_objective(model, X):
    """The documented loss with dense arrays: rated pairs, every pair, frequency-scaled L2."""
    F = confidence(X, model.scheme).toarray()
    rated = F != 0
    weight, preference = np.abs(F), (F > 0).astype(float)
    W, H = model.user_factors_, model.item_factors_
    S = W @ H.T
    loss = np.sum(weight[rated] * (preference[rated] - S[rated]) ** 2)
    loss += model.unobserved_weight * np.sum(S ** 2)
    loss += penalties(model, rated.sum(axis=1), H.shape[0]) @ np.sum(W ** 2, axis=1)
    loss += penalties(model, rated.sum(axis=0), W.shape[0]) @ np.sum(H ** 2, axis=1)
    return loss


def test_the_objective_decreases_every_epoch_and_is_the_documented_loss(ratings):
    model = ImplicitALS(**SMALL, scheme="signed").fit(ratings)
    losses = np.array(model.objective_)
    assert len(losses) == SMALL["n_iter"]
    assert np.all(np.diff(losses) < 0)
    assert brute_force_objective(model, ratings) == pytest.approx(losses[-1], rel=1e-9)


def test_a_users_vector_solves_their_normal_equations(ratings):
    model = ImplicitALS(**SMALL, scheme="signed").fit(ratings)
    X_new = ratings[:6].toarray()
    X_new[5] = 0.0  # no rating at all: the vector is 0
    vectors = model.user_vectors(sp.csr_matrix(X_new))
    H, k = model.item_factors_, model.n_factors
    F = confidence(sp.csr_matrix(X_new), "signed").toarray()
    for u in range(len(X_new)):
        c, p = np.abs(F[u]), (F[u] > 0).astype(float)
        A = model.unobserved_weight * H.T @ H + (H.T * c) @ H \
            + penalties(model, np.count_nonzero(F[u]), H.shape[0]) * np.eye(k)
        np.testing.assert_allclose(vectors[u], np.linalg.solve(A, H.T @ (c * p)), atol=1e-10)
    assert np.all(vectors[5] == 0.0)


def test_fold_in_of_a_fitted_users_own_ratings_gives_their_scores(ratings):
    model = ImplicitALS(**SMALL).fit(ratings)
    np.testing.assert_allclose(model.predict_unseen(ratings[:10]),
                               model.score_users(np.arange(10)), atol=1e-10)


def test_a_new_rating_changes_the_fold_in_list(ratings):
    model = ImplicitALS(**SMALL).fit(ratings)
    row = ratings[3].toarray()
    before = model.predict_unseen(sp.csr_matrix(row))[0]
    unrated = np.flatnonzero(row[0] == 0)
    new = unrated[np.argmin(before[unrated])]  # the user's worst-scored movie
    row[0, new] = 5.0
    after = model.predict_unseen(sp.csr_matrix(row))[0]
    assert after[new] > before[new]
    assert not np.allclose(after, before)


def test_the_seed_fixes_the_fit(ratings):
    first, second = (ImplicitALS(**SMALL, random_state=4).fit(ratings) for _ in range(2))
    other = ImplicitALS(**SMALL, random_state=5).fit(ratings)
    np.testing.assert_array_equal(first.item_factors_, second.item_factors_)
    assert not np.allclose(first.item_factors_, other.item_factors_)


def test_bad_hyper_parameters_are_clear_errors(ratings):
    with pytest.raises(ValueError, match="n_factors"):
        ImplicitALS(n_factors=0).fit(ratings)
    with pytest.raises(ValueError, match="reg"):
        ImplicitALS(reg=0).fit(ratings)


def test_fold_in_rejects_another_catalogue(ratings):
    with pytest.raises(ValueError, match="movies, the model"):
        ImplicitALS(**SMALL).fit(ratings).predict_unseen(sp.csr_matrix((1, 3)))


def test_persistence_round_trip_scores_identically(ratings):
    model = ImplicitALS(**SMALL).fit(ratings)
    spec, arrays = encode(model)
    loaded = decode(spec, arrays)
    np.testing.assert_array_equal(loaded.score_users(np.arange(8)), model.score_users(np.arange(8)))
    np.testing.assert_array_equal(loaded.predict_unseen(ratings[:4]),
                                  model.predict_unseen(ratings[:4]))
    assert loaded.objective_ == model.objective_


def test_fold_in_does_not_change_the_estimator(ratings):
    model = ImplicitALS(**SMALL).fit(ratings)
    before = {name: value.copy() if isinstance(value, (np.ndarray, list)) else value
              for name, value in vars(model).items()}
    model.predict_unseen(ratings[:5])
    model.score_users([1, 2])
    assert vars(model).keys() == before.keys()
    for name, value in before.items():
        np.testing.assert_array_equal(vars(model)[name], value)


def test_it_ranks_better_than_the_most_popular_movies(fold):
    popular = ndcg_on_test_part(MostPopular().fit(fold.train), fold)
    ials = ndcg_on_test_part(ImplicitALS(n_factors=16).fit(fold.train), fold)
    assert ials > 2 * popular


def test_contributions_of_the_rated_movies_add_up_to_the_scores(ratings):
    model = ImplicitALS(**SMALL, random_state=0).fit(ratings)
    row = ratings[7]
    items = np.array([0, 3, 5, 11, 19])
    parts = model.contributions(row.indices, row.data, items)
    assert parts.shape == (len(items), row.nnz)
    np.testing.assert_allclose(parts.sum(axis=1), model.predict_unseen(row)[0, items], atol=1e-9)
    disliked = confidence(row, model.scheme).data < 0
    assert not parts[:, disliked].any()  # a negative signal explains no recommendation


def test_one_users_scores_are_their_row_of_the_batch_fold_in(ratings):
    model = ImplicitALS(**SMALL, random_state=0).fit(ratings)
    row = ratings[7]
    np.testing.assert_allclose(model.score_one(row.indices, row.data),
                               model.predict_unseen(row)[0], atol=1e-12)
