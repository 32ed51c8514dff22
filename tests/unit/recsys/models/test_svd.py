import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from shared.recsys import persist
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.svd import BiasedMF, RidgeRows
from tests.unit.recsys.models.synthetic import low_rank_ratings, rmse


@pytest.fixture(scope="module")
def data():
    return low_rank_ratings()


@pytest.fixture(scope="module")
def fitted(data):
    return BiasedMF(n_factors=8).fit(data[0])


def test_fit_returns_self_and_sets_learned_attributes(data):
    X = data[0]
    model = BiasedMF(n_factors=5)
    assert model.fit(X) is model
    assert model.user_factors_.shape == (X.shape[0], 5)
    assert model.item_factors_.shape == (X.shape[1], 5)
    assert model.user_bias_.shape == (X.shape[0],) and model.item_bias_.shape == (X.shape[1],)
    assert model.global_mean_ == pytest.approx(X.data.mean())


def test_recovers_low_rank_structure_beyond_the_baseline(data, fitted):
    X, test = data
    baseline = BaselinePredictor().fit(X)
    assert rmse(fitted, test) < 0.8 * rmse(baseline, test)


def test_predictions_are_clipped_to_the_rating_scale():
    X = sp.csr_matrix(np.array([[5.0, 5.0, 5.0, 0.0], [5.0, 5.0, 5.0, 5.0], [0.5, 0.5, 0.0, 0.5],
                                [0.5, 0.0, 0.5, 0.5]]))
    model = BiasedMF(n_factors=2, reg=0.01, reg_bias=0.01).fit(X)
    users, items = np.repeat(np.arange(4), 4), np.tile(np.arange(4), 4)
    raw = model.score_users(np.arange(4)).ravel()
    pred = model.predict(users, items)
    assert raw.max() > 5.0 or raw.min() < 0.5  # clipping had something to do
    assert pred.min() >= 0.5 and pred.max() <= 5.0
    np.testing.assert_allclose(pred, np.clip(raw, 0.5, 5.0))


def test_params_round_trip_through_clone(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "user_factors_")
    assert BiasedMF().set_params(n_factors=7, reg=0.5).get_params()["n_factors"] == 7


def test_same_random_state_same_model_other_state_other_start(data):
    X = data[0]
    a, b = BiasedMF(n_factors=4, n_iter=3).fit(X), BiasedMF(n_factors=4, n_iter=3).fit(X)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    c = BiasedMF(n_factors=4, n_iter=3, random_state=1).fit(X)
    assert not np.allclose(a.item_factors_, c.item_factors_)


def test_predict_equals_score_users_at_the_same_pairs(data, fitted):
    users, items, _ = data[1]
    scores = fitted.score_users(np.arange(data[0].shape[0]))
    np.testing.assert_allclose(fitted.predict(users, items),
                               np.clip(scores[users, items], 0.5, 5.0), atol=1e-12)


def test_folding_in_a_training_row_gives_back_its_scores(data, fitted):
    X = data[0]
    users = np.array([0, 7, 42])
    np.testing.assert_allclose(fitted.predict_unseen(X[users]), fitted.score_users(users),
                               atol=1e-8)


def test_new_user_scores_follow_their_ratings(data, fitted):
    X = data[0]
    high = sp.csr_matrix((np.full(5, 5.0), (np.zeros(5, int), np.arange(5))), shape=(1, X.shape[1]))
    low = sp.csr_matrix((np.full(5, 1.0), (np.zeros(5, int), np.arange(5))), shape=(1, X.shape[1]))
    assert fitted.predict_unseen(high).mean() > fitted.predict_unseen(low).mean()
    empty = sp.csr_matrix((1, X.shape[1]))
    np.testing.assert_allclose(fitted.predict_unseen(empty)[0],
                               fitted.global_mean_ + fitted.item_bias_)


def test_a_movie_nobody_rated_gets_mean_plus_user_bias(data):
    X = data[0].tolil()
    X[:, 3] = 0
    model = BiasedMF(n_factors=4).fit(X.tocsr())
    assert model.item_bias_[3] == 0 and not model.item_factors_[3].any()
    np.testing.assert_allclose(model.score_users([1, 2])[:, 3],
                               model.global_mean_ + model.user_bias_[[1, 2]])


def test_ridge_rows_solve_each_row_exactly():
    rng = np.random.default_rng(3)
    k, n_rows, n_cols = 4, 30, 50
    counts = rng.integers(0, 12, n_rows)  # empty rows, dual (<= k) and primal (> k) lengths
    counts[0] = 0
    indptr = np.r_[0, np.cumsum(counts)]
    cols = np.concatenate([rng.choice(n_cols, c, replace=False) for c in counts])
    targets, design = rng.normal(size=indptr[-1]), rng.normal(size=(n_cols, k))
    penalty = rng.uniform(0.1, 2.0, (n_rows, k))
    solved = RidgeRows(indptr, cols).solve(targets, design, penalty)
    for r in range(n_rows):
        Z, t = design[cols[indptr[r]:indptr[r + 1]]], targets[indptr[r]:indptr[r + 1]]
        expected = np.linalg.solve(Z.T @ Z + np.diag(penalty[r]), Z.T @ t)
        np.testing.assert_allclose(solved[r], expected, atol=1e-10)
    assert not solved[0].any()
    by_threads = RidgeRows(indptr, cols).solve(targets, design, penalty, n_jobs=2)
    np.testing.assert_array_equal(by_threads, solved)


def test_threads_fit_the_same_model(data):
    one = BiasedMF(n_factors=8, n_jobs=1).fit(data[0])
    two = BiasedMF(n_factors=8, n_jobs=2).fit(data[0])
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)
    np.testing.assert_array_equal(one.user_bias_, two.user_bias_)


def test_persisted_model_predicts_the_same(data, fitted):
    spec, arrays = persist.encode(fitted)
    back = persist.decode(spec, arrays)
    users, items, _ = data[1]
    np.testing.assert_array_equal(back.predict(users, items), fitted.predict(users, items))


@pytest.mark.slow
def test_beats_the_baseline_on_ml_latest_small(ml_latest_small):
    from shared.recsys.ratings import rating_matrix
    from shared.recsys.vocabulary import Vocabulary

    frame = pd.read_csv(ml_latest_small / "ratings.csv")
    frame.columns = ["user_id", "movie_id", "rating", "ts"]
    train = np.random.default_rng(0).random(len(frame)) < 0.8
    users, movies = Vocabulary(frame.user_id), Vocabulary(frame.movie_id)
    X, _, _ = rating_matrix(frame[train], users, movies)
    held = frame[~train]
    test = (users.index(held.user_id), movies.index(held.movie_id), held.rating.to_numpy())
    assert rmse(BiasedMF().fit(X), test) < rmse(BaselinePredictor().fit(X), test) - 0.01
