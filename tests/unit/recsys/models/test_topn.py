import numpy as np
import pytest
import scipy.sparse as sp

from shared.recsys.models.ease import EASE
from shared.recsys.models.ials import ImplicitALS
from shared.recsys.models.topn import (
    DISLIKED_BELOW,
    NEGATIVE,
    SCHEMES,
    WEAK_POSITIVE,
    MostPopular,
    TopNRecommender,
    confidence,
    confidence_values,
    strongest,
)
from tests.unit.recsys.models.synthetic import low_rank_ratings
from tests.unit.recsys.models.taste_groups import ndcg_on_test_part, taste_group_fold

RATINGS = np.array([[5.0, 3.0, 0.0, 0.5],
                    [0.0, 4.0, 2.5, 0.0],
                    [4.5, 0.0, 0.0, 3.5]])


@pytest.fixture(scope="module")
def fold(tmp_path_factory):
    return taste_group_fold(tmp_path_factory.mktemp("taste"))


def test_every_scheme_keeps_the_rated_pattern():
    X = sp.csr_matrix(RATINGS)
    for scheme in SCHEMES:
        C = confidence(X, scheme)
        assert (C.toarray() != 0).tolist() == (RATINGS > 0).tolist(), scheme


def test_binary_counts_each_rating_once_and_rating_weights_by_stars():
    X = sp.csr_matrix(RATINGS)
    assert confidence(X, "binary").toarray().tolist() == (RATINGS > 0).astype(float).tolist()
    np.testing.assert_allclose(confidence(X, "rating").toarray(), RATINGS / 5.0)


def test_liked_weighs_favourites_fully_and_signed_turns_low_ratings_negative():
    X = sp.csr_matrix(RATINGS)
    liked, signed = confidence(X, "liked").toarray(), confidence(X, "signed").toarray()
    favourite, rated = RATINGS >= 4.0, RATINGS > 0
    assert np.all(liked[favourite] == 1.0) and np.all(signed[favourite] == 1.0)
    assert np.all(liked[rated & ~favourite] == WEAK_POSITIVE)
    low = rated & (RATINGS < DISLIKED_BELOW)
    assert low.sum() == 2 and np.all(signed[low] == NEGATIVE) and NEGATIVE < 0
    assert np.all(signed[rated & ~favourite & ~low] == WEAK_POSITIVE)


def test_an_unknown_scheme_names_the_known_ones():
    with pytest.raises(ValueError, match="binary"):
        confidence(sp.csr_matrix(RATINGS), "stars")


def test_ranking_estimators_offer_no_rating_prediction():
    assert TopNRecommender.predicts_ratings is False
    assert not hasattr(MostPopular(), "predict")


def test_most_popular_scores_each_movie_by_its_number_of_ratings_for_everyone():
    model = MostPopular().fit(sp.csr_matrix(RATINGS))
    assert model.score_users([0, 2]).tolist() == [[2, 2, 1, 2]] * 2
    assert model.predict_unseen(sp.csr_matrix((1, 4))).tolist() == [[2, 2, 1, 2]]
    liked = MostPopular(scheme="liked").fit(sp.csr_matrix(RATINGS))
    assert liked.popularity_.tolist() == [2.0, 1.5, 0.5, 1.0]


def test_fold_in_rejects_another_catalogue():
    model = MostPopular().fit(sp.csr_matrix(RATINGS))
    with pytest.raises(ValueError, match="3 movies, the model 4"):
        model.predict_unseen(sp.csr_matrix((1, 3)))


def test_most_popular_is_a_floor_above_an_unpopular_ranking(fold):
    reverse = MostPopular().fit(fold.train)
    reverse.popularity_ = -reverse.popularity_
    popular = ndcg_on_test_part(MostPopular().fit(fold.train), fold)
    assert popular > 2 * ndcg_on_test_part(reverse, fold)


def test_the_feedback_of_a_few_ratings_is_that_of_the_matrix_they_sit_in():
    X = sp.csr_matrix(RATINGS)
    for scheme in SCHEMES:
        np.testing.assert_array_equal(confidence_values(X.data, scheme), confidence(X, scheme).data)


def test_most_popular_gives_one_user_the_same_list_as_everyone():
    model = MostPopular().fit(sp.csr_matrix(RATINGS))
    mine = model.score_one(np.array([1, 3]), np.array([4.0, 2.0]))
    np.testing.assert_array_equal(mine, model.popularity_)
    assert model.contributions(np.array([1, 3]), np.array([4.0, 2.0]), [0, 2]).shape == (2, 2)


def test_one_users_top_movies_leave_out_the_excluded_and_name_no_reason_nothing_gave():
    model = MostPopular().fit(sp.csr_matrix(RATINGS))
    order = [int(i) for i in np.argsort(-model.popularity_, kind="stable")]
    top, scores, because = model.top_one(np.array([1, 3]), np.array([4.0, 2.0]),
                                         np.array([order[0]]), 2)
    assert list(top) == order[1:3] and list(scores) == list(model.popularity_[order[1:3]])
    assert list(because) == [-1, -1]  # nothing the user rated moves a popularity score


def test_the_strongest_contribution_is_named_only_when_it_adds():
    parts = np.array([[0.1, 0.5, -1.0], [-0.2, -0.1, 0.0], [0.0, 0.3, 0.3]])
    assert list(strongest(parts)) == [1, -1, 1]
    assert list(strongest(np.zeros((2, 0)))) == [-1, -1]


@pytest.mark.parametrize("make", [
    lambda: EASE(l2=5.0, scheme="signed", max_items=30, max_candidates=20),
    lambda: ImplicitALS(n_factors=4, n_iter=3, scheme="signed"),
], ids=["EASE", "ImplicitALS"])
def test_a_live_user_ranks_as_their_known_ratings_do(make):
    """``top_one`` takes a user as the request path has them: movies outside the model (-1)
    and movies only favoured (rating 0) are no input, are never recommended, and never
    explain; ``because`` points into the movies given."""
    X = low_rank_ratings(n_users=50, n_items=40, density=0.3)[0]
    model = make().fit(X)
    for user in range(0, 50, 5):
        row = X[user]
        favoured = np.setdiff1d(np.arange(0, 40, 7), row.indices)
        movies = np.r_[-1, row.indices[::-1], favoured, -1]
        ratings = np.r_[4.0, row.data[::-1], np.zeros(len(favoured)), 2.0]
        top, scores, because = model.top_one(movies, ratings, movies, 6)
        known, known_scores, known_because = model.top_one(
            row.indices, row.data, np.r_[row.indices, favoured], 6)
        assert top.tolist() == known.tolist() and not set(top) & set(movies)
        np.testing.assert_allclose(scores, known_scores, rtol=1e-5, atol=1e-6)
        expected = [-1 if j < 0 else len(row.indices) - j for j in known_because]
        assert because.tolist() == expected  # the same rated movie, in the live order



@pytest.mark.parametrize("make", [MostPopular, lambda: ImplicitALS(n_factors=4, n_iter=3)],
                         ids=["MostPopular", "ImplicitALS"])
def test_a_user_with_nothing_the_model_reads_gets_a_list_without_reasons(make):
    """Only a movie outside the model, and one only favoured: no input, and no crash."""
    model = make().fit(low_rank_ratings(n_users=30, n_items=20, density=0.3)[0])
    movies, ratings = np.array([-1, 3]), np.array([4.5, 0.0])
    assert not model.can_rank(movies, ratings)
    top, _, because = model.top_one(movies, ratings, movies, 4)
    assert len(top) == 4 and 3 not in top.tolist() and because.tolist() == [-1] * 4
