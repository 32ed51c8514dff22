import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from shared.recsys import persist
from shared.recsys.models.factorization import IterativeSVD, NMFPredictor, TruncatedSVDPredictor
from shared.recsys.ratings import rating_matrix

ESTIMATORS = [
    lambda: TruncatedSVDPredictor(n_components=3),
    lambda: NMFPredictor(n_components=3, max_iter=300, tol=1e-7),
    lambda: IterativeSVD(n_components=3, shrinkage=0.0, n_iter=300, tol=1e-12),
]
IDS = ["tsvd", "nmf", "iterative"]


def low_rank_ratings(seed=0, n_users=80, n_movies=50, rank=3, observed=0.5):
    """A rank-``rank`` positive rating matrix, split into observed (CSR) and held-out cells."""
    rng = np.random.default_rng(seed)
    users = rng.random((n_users, rank))
    movies = rng.random((n_movies, rank))
    truth = 0.5 + 4.5 * (users @ movies.T) / rank
    seen = rng.random(truth.shape) < observed
    seen[:, 0] = True  # every user rated something
    X = sp.csr_matrix(np.where(seen, truth, 0.0))
    held_u, held_i = np.nonzero(~seen)
    return X, held_u, held_i, truth[held_u, held_i]


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_recovers_a_low_rank_matrix_better_than_the_user_mean(make):
    X, hu, hi, truth = low_rank_ratings()
    est = make().fit(X)
    user_mean = np.asarray(X.sum(axis=1)).ravel() / np.diff(X.indptr)
    assert rmse(est.predict(hu, hi), truth) < 0.8 * rmse(user_mean[hu], truth)


def test_iterative_svd_beats_one_truncated_svd_on_a_low_rank_matrix():
    X, hu, hi, truth = low_rank_ratings()
    once = TruncatedSVDPredictor(n_components=3).fit(X)
    iterated = IterativeSVD(n_components=3, shrinkage=0.0, n_iter=300, tol=1e-8).fit(X)
    assert rmse(iterated.predict(hu, hi), truth) < 0.5 * rmse(once.predict(hu, hi), truth)


def test_iterative_svd_history_decreases_and_converges():
    X, *_ = low_rank_ratings()
    est = IterativeSVD(n_components=3, shrinkage=0.0, n_iter=500, tol=1e-6).fit(X)
    history = np.asarray(est.history_)
    assert est.converged_ and est.n_iter_ == len(history) < 500
    assert history[-1] < 1e-6 <= history[0]
    assert np.all(np.diff(history) <= 0)
    # Hard impute is a majorise-minimise scheme: the error on rated cells never rises.
    assert np.all(np.diff(est.train_rmse_) <= 1e-12)


def test_iterative_svd_stops_at_n_iter_when_not_converged():
    X, *_ = low_rank_ratings()
    est = IterativeSVD(n_components=3, n_iter=2, tol=0.0).fit(X)
    assert est.n_iter_ == 2 and not est.converged_


def test_one_step_of_iterative_svd_is_the_truncated_svd():
    X, hu, hi, _ = low_rank_ratings()
    once = TruncatedSVDPredictor(n_components=4, random_state=3).fit(X)
    step = IterativeSVD(n_components=4, n_iter=1, shrinkage=0.0, random_state=3).fit(X)
    np.testing.assert_allclose(step.predict(hu, hi), once.predict(hu, hi), atol=1e-8)


def test_shrinkage_drops_components_below_the_threshold():
    X, *_ = low_rank_ratings()
    plain = TruncatedSVDPredictor(n_components=6).fit(X)
    threshold = plain.singular_values_[2] + 1e-6
    est = IterativeSVD(n_components=6, n_iter=1, shrinkage=threshold).fit(X)
    assert len(est.singular_values_) == 2 == est.item_factors_.shape[1]
    np.testing.assert_allclose(est.singular_values_, plain.singular_values_[:2] - threshold)


@pytest.mark.parametrize("make", ESTIMATORS + [
    lambda: IterativeSVD(n_components=3, shrinkage=1.0, n_iter=500, tol=1e-12),
    lambda: TruncatedSVDPredictor(n_components=3, centering="baseline"),
    lambda: NMFPredictor(n_components=3, centering="baseline", max_iter=50),
], ids=IDS + ["soft-iterative", "tsvd-baseline", "nmf-baseline"])
def test_predict_unseen_of_a_training_row_matches_score_users(make):
    X, *_ = low_rank_ratings()
    est = make().fit(X)
    rows = [0, 7, 42]
    np.testing.assert_allclose(est.predict_unseen(X[rows]), est.score_users(rows), atol=1e-5)


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_predict_is_score_users_at_the_pairs_clipped(make):
    X, hu, hi, _ = low_rank_ratings()
    est = make().fit(X)
    expected = np.clip(est.score_users(hu)[np.arange(len(hu)), hi], 0.5, 5.0)
    np.testing.assert_allclose(est.predict(hu, hi), expected)
    assert est.score_users([1, 2]).shape == (2, X.shape[1])


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_sklearn_conventions(make):
    X, *_ = low_rank_ratings()
    est = make()
    params = est.get_params()
    assert est.fit(X) is est
    copy = clone(est)
    assert copy.get_params() == params
    assert not [name for name in vars(copy) if name.endswith("_")]


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_fits_are_reproducible_with_random_state(make):
    X, *_ = low_rank_ratings()
    a, b = make().fit(X), make().fit(X)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


def test_nmf_factors_are_non_negative_and_random_state_matters():
    X, *_ = low_rank_ratings()
    a = NMFPredictor(n_components=4, max_iter=20, random_state=0).fit(X)
    b = NMFPredictor(n_components=4, max_iter=20, random_state=1).fit(X)
    assert a.user_factors_.min() >= 0 and a.item_factors_.min() >= 0
    assert not np.allclose(a.item_factors_, b.item_factors_)


def test_nmf_reconstruction_error_matches_the_dense_filled_matrix():
    X, *_ = low_rank_ratings(n_users=20, n_movies=15)
    est = NMFPredictor(n_components=2, max_iter=30).fit(X)
    dense = X.toarray()
    filled = np.where(dense > 0, dense, est.user_offset_[:, None])
    err = np.linalg.norm(filled - est.user_factors_ @ est.item_factors_.T)
    assert est.reconstruction_err_ == pytest.approx(err, rel=1e-9)


def test_users_without_ratings_get_the_global_mean():
    X, *_ = low_rank_ratings()
    X = sp.vstack([X, sp.csr_matrix((1, X.shape[1]))]).tocsr()
    est = TruncatedSVDPredictor(n_components=3).fit(X)
    np.testing.assert_allclose(est.score_users([X.shape[0] - 1]), X.data.mean())
    np.testing.assert_allclose(est.predict_unseen(sp.csr_matrix((1, X.shape[1]))), X.data.mean())


def test_bad_centering_and_bad_width_are_refused():
    X, *_ = low_rank_ratings()
    with pytest.raises(ValueError, match="centering"):
        TruncatedSVDPredictor(centering="median").fit(X)
    est = TruncatedSVDPredictor(n_components=2).fit(X)
    with pytest.raises(ValueError, match="movies"):
        est.predict_unseen(sp.csr_matrix((1, X.shape[1] + 1)))


def test_rank_close_to_the_matrix_size_falls_back_to_a_dense_svd():
    X, *_ = low_rank_ratings(n_users=6, n_movies=30)
    est = IterativeSVD(n_components=6, n_iter=3, shrinkage=0.0).fit(X)
    dense_rows = est.score_users(np.arange(6))
    # Rank 6 of a 6-row matrix reproduces every rated cell.
    np.testing.assert_allclose(dense_rows[X.nonzero()], X.data, atol=1e-8)


def test_persisted_fits_predict_the_same():
    X, *_ = low_rank_ratings()
    for est in (IterativeSVD(n_components=3, n_iter=5, centering="baseline").fit(X),
                NMFPredictor(n_components=3, max_iter=5).fit(X)):
        spec, arrays = persist.encode(est)
        back = persist.decode(spec, arrays)
        np.testing.assert_array_equal(back.predict_unseen(X[:4]), est.predict_unseen(X[:4]))


@pytest.mark.slow
def test_ml_latest_small_iterative_svd_beats_truncated_svd_and_nmf(ml_latest_small):
    ratings = pd.read_csv(ml_latest_small / "ratings.csv").rename(
        columns={"userId": "user_id", "movieId": "movie_id", "timestamp": "ts"})
    X, _, _ = rating_matrix(ratings)
    coo = X.tocoo()
    train = np.random.default_rng(0).random(coo.nnz) < 0.8
    X_train = sp.csr_matrix((coo.data[train], (coo.row[train], coo.col[train])), shape=X.shape)
    test_u, test_i, test_r = coo.row[~train], coo.col[~train], coo.data[~train]
    errors = {type(est).__name__: rmse(est.fit(X_train).predict(test_u, test_i), test_r)
              for est in (TruncatedSVDPredictor(), NMFPredictor(), IterativeSVD())}
    assert errors["IterativeSVD"] < min(errors["TruncatedSVDPredictor"], errors["NMFPredictor"])
    assert max(errors.values()) < 1.0
