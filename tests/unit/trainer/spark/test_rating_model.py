"""Each rating model fitted on Spark (local mode, a real JVM) reaches the state its local
``fit`` reaches on the same ratings: the baseline, biased MF's factors, item-kNN's kept
neighbours, the blend's held-out ratings and weights."""
import numpy as np
import pytest
from sklearn.base import clone

from shared.data import movielens
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.blend import Blend
from shared.recsys.models.ease import EASE
from shared.recsys.models.item_knn import ItemKNN
from shared.recsys.models.svd import BiasedMF
from shared.recsys.ratings import rating_matrix
from trainer.spark.blocks import snapshot_frame
from trainer.spark.rating_model import Ratings, check_fitted_on_spark, fit_rating_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ratings(spark, tiny_data):
    """The tiny set as the local fit sees it (X) and as Spark does (in blocks of users)."""
    frame = movielens.load(tiny_data).ratings.assign(favourite=False)
    X, users, movies = rating_matrix(frame)
    return X, Ratings(snapshot_frame(spark, frame, 3), users.ids, movies)


def test_the_baseline_is_the_local_one(ratings):
    X, on_spark = ratings
    here, there = BaselinePredictor().fit(X), fit_rating_model(on_spark, BaselinePredictor())
    assert there.global_mean_ == pytest.approx(here.global_mean_)
    np.testing.assert_allclose(there.user_bias_, here.user_bias_, atol=1e-12)
    np.testing.assert_allclose(there.item_bias_, here.item_bias_, atol=1e-12)
    assert fit_rating_model(on_spark, BaselinePredictor()) is there  # fitted once


def test_biased_mf_reaches_the_local_factors(ratings):
    X, on_spark = ratings
    model = BiasedMF(n_factors=8, n_iter=3)
    here, there = clone(model).fit(X), fit_rating_model(on_spark, clone(model))
    for name in ("user_bias_", "item_bias_", "user_factors_", "item_factors_"):
        np.testing.assert_allclose(getattr(there, name), getattr(here, name), atol=1e-8)
    assert np.abs(here.item_factors_).max() > 0.01  # factors were learned, not left at 0


@pytest.mark.parametrize("similarity", ["cosine", "pearson_baseline"])
def test_item_knn_keeps_the_local_neighbours(ratings, similarity):
    X, on_spark = ratings
    model = ItemKNN(max_neighbors=20, similarity=similarity)
    here, there = clone(model).fit(X), fit_rating_model(on_spark, clone(model))
    assert here.similarity_.nnz > 1000
    np.testing.assert_array_equal(np.diff(there.similarity_.indptr),
                                  np.diff(here.similarity_.indptr))
    # each movie's kept similarities; which of equal ones (a single co-rater's) is kept may
    # differ with the order the sums were added in
    for row in range(X.shape[1]):
        mine, theirs = there.similarity_[row], here.similarity_[row]
        np.testing.assert_allclose(np.sort(mine.data), np.sort(theirs.data), atol=1e-5)
    same = there.similarity_.multiply(here.similarity_ > 0)
    assert same.nnz >= 0.95 * here.similarity_.nnz
    assert there.user_residuals_.shape == (0, X.shape[1])  # the residuals stay with Spark
    rows = np.array([0, 0, 1, 2])
    items = np.array([3, 50, 7, 396])
    np.testing.assert_allclose(there.predict_unseen_at(X[:3], rows, items),
                               here.predict(rows, items), atol=1e-5)


def test_the_blend_holds_out_the_local_ratings_and_weighs_alike(ratings):
    """Here on a sample of the users, as past ``weight_ratings``; without one, every user's
    held-out ratings go the same way."""
    X, on_spark = ratings
    model = Blend([BiasedMF(n_factors=8, n_iter=3), ItemKNN(max_neighbors=20),
                   BaselinePredictor()], weight_ratings=X.nnz // 2)
    assert 0 < model.weight_users(np.diff(X.indptr)).sum() < X.shape[0]
    here, there = clone(model).fit(X), fit_rating_model(on_spark, clone(model))
    np.testing.assert_allclose(there.holdout_rmse_, here.holdout_rmse_, atol=1e-6)
    np.testing.assert_allclose(there.weights_, here.weights_, atol=1e-6)
    assert there.intercept_ == pytest.approx(here.intercept_, abs=1e-6)
    users = np.arange(20)
    np.testing.assert_allclose(there.predict_unseen_at(X[users], users, users * 7),
                               here.predict(users, users * 7), atol=1e-5)


def test_a_blend_with_fixed_weights_fits_its_members_once_on_every_rating(ratings):
    X, on_spark = ratings
    model = Blend([BaselinePredictor(), BaselinePredictor(reg_item=50.0)],
                  fixed_weights=[0.25, 0.5, 0.45])
    here, there = clone(model).fit(X), fit_rating_model(on_spark, clone(model))
    assert there.intercept_ == 0.25 and there.holdout_rmse_ is None
    np.testing.assert_array_equal(there.weights_, [0.5, 0.45])
    for mine, theirs in zip(here.members_, there.members_):
        np.testing.assert_allclose(theirs.item_bias_, mine.item_bias_, atol=1e-9)


def test_a_model_this_engine_does_not_fit_is_named_before_any_work():
    with pytest.raises(ValueError, match="not EASE"):
        check_fitted_on_spark(Blend([BiasedMF(), EASE()]))
    check_fitted_on_spark(Blend([BiasedMF(), ItemKNN(baseline=BaselinePredictor())]))
