import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.features import user_means
from shared.recsys.models.kmeans_softmax import KMeansSoftmax, KMeansSoftmaxEnsemble

FAITHFUL = dict(centring="mean", normalize=False, prediction="centroid", assignment="hard")


def taste_groups(n_per_group=10, seed=0):
    """Group 0 loves movies 0-9 and hates 10-19; group 1 the reverse; 30% of ratings missing."""
    rng = np.random.default_rng(seed)
    R = np.zeros((2 * n_per_group, 20))
    R[:n_per_group, :10], R[:n_per_group, 10:] = 5.0, 1.0
    R[n_per_group:, :10], R[n_per_group:, 10:] = 1.0, 5.0
    R += rng.choice([-0.5, 0.0, 0.5], size=R.shape)
    R[rng.random(R.shape) < 0.3] = 0.0
    return sp.csr_matrix(R), np.repeat([0, 1], n_per_group)


# a new user with group 0's taste who rated half of the movies
NEW = sp.csr_matrix(np.r_[[5.0] * 5, [0.0] * 5, [1.0] * 5, [0.0] * 5][None, :])


@pytest.mark.parametrize("params", [{}, FAITHFUL, dict(assignment="soft"),
                                    dict(assignment="hard", normalize=False)])
def test_new_user_gets_the_taste_of_their_group(params):
    X, truth = taste_groups()
    model = KMeansSoftmax(n_clusters=2, random_state=0, **params).fit(X)
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    assert model.predict_clusters(NEW)[0] == model.labels_[0]
    scores = model.predict_unseen(NEW)[0]
    assert scores[5:10].min() > scores[15:20].max()


def test_faithful_variant_is_user_mean_plus_kmeans_centroid():
    X, _ = taste_groups(seed=1)
    model = KMeansSoftmax(n_clusters=2, random_state=0, **FAITHFUL).fit(X)
    # with unnormalised mean-centred rows, the cluster opinions are the k-means centres
    np.testing.assert_allclose(model.offsets(), model.kmeans_.cluster_centers_, atol=1e-12)
    centres = model.kmeans_.cluster_centers_
    expected = user_means(NEW)[:, None] + centres[model.predict_clusters(NEW)]
    np.testing.assert_allclose(model.predict_unseen(NEW), expected)
    expected_fitted = user_means(X)[:3, None] + centres[model.labels_[:3]]
    np.testing.assert_allclose(model.score_users([0, 1, 2]), expected_fitted)


def test_given_labels_replace_kmeans_and_fill_the_live_arrays():
    X, truth = taste_groups(seed=2)
    labels = np.array([1, 0])[truth]
    model = KMeansSoftmax(random_state=0).fit(X, labels=labels)
    assert not hasattr(model, "kmeans_")
    np.testing.assert_array_equal(model.labels_, labels)
    assert model.cluster_sums_.shape == model.cluster_counts_.shape == (2, 20)
    assert model.cluster_counts_.sum() == X.nnz
    assert model.cluster_favourites_.sum() == np.count_nonzero(X.data >= 4.0)
    np.testing.assert_array_equal(model.cluster_sizes_, np.bincount(labels))
    np.testing.assert_array_equal(model.nearest_clusters(X), labels)


def test_fitted_weights_fit_the_known_ratings_at_least_as_well_as_the_softmax():
    X, _ = taste_groups(seed=3)
    model = KMeansSoftmax(n_clusters=2, random_state=0).fit(X)
    residuals = model._unseen(NEW)[2]
    rated = residuals.indices
    m = model.offsets()

    def squared_error(w):
        return float(np.sum((residuals.data - w @ m[:, rated]) ** 2))

    fitted = model.cluster_weights(NEW)[0]
    proba = model.set_params(assignment="soft").cluster_weights(NEW)[0]
    hard = model.set_params(assignment="hard").cluster_weights(NEW)[0]
    np.testing.assert_allclose(proba.sum(), 1.0)
    assert sorted(hard) == [0.0, 1.0] and np.argmax(hard) == np.argmax(proba)
    # the ridge fit is pulled toward the probabilities, but never fits worse than them
    assert squared_error(fitted) <= squared_error(proba)


def test_deterministic_clone_and_parameter_check():
    X, _ = taste_groups(seed=4)
    a = KMeansSoftmax(n_clusters=3, random_state=5).fit(X)
    b = clone(a).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.predict_unseen(NEW), b.predict_unseen(NEW))
    with pytest.raises(ValueError):
        KMeansSoftmax(assignment="nearest").fit(X)


def test_ensemble_averages_members_with_different_seeds():
    X, _ = taste_groups(seed=5)
    ensemble = KMeansSoftmaxEnsemble(KMeansSoftmax(n_clusters=2), n_members=3, random_state=0)
    ensemble.fit(X)
    seeds = {m.random_state for m in ensemble.members_}
    assert len(seeds) == 3
    expected = np.mean([m.predict_unseen(NEW) for m in ensemble.members_], axis=0)
    np.testing.assert_allclose(ensemble.predict_unseen(NEW), expected)
    assert ensemble.score_users([0, 1]).shape == (2, 20)


def test_beats_the_baseline_on_new_users_of_ml_latest_small(ml_latest_small):
    """Seed 000's protocol: 70% of users train; each test user's ratings are split in half, one
    half assigns the user, the other is predicted."""
    from shared.recsys.ratings import rating_matrix

    ratings = pd.read_csv(ml_latest_small / "ratings.csv").rename(
        columns={"userId": "user_id", "movieId": "movie_id", "timestamp": "ts"})
    X, _, _ = rating_matrix(ratings)
    rng = np.random.default_rng(0)
    perm = rng.permutation(X.shape[0])
    n_train = int(0.7 * X.shape[0])
    test = X[np.sort(perm[n_train:])].tocoo()
    known = rng.random(test.nnz) < 0.5
    X_known = sp.csr_matrix((test.data[known], (test.row[known], test.col[known])),
                            shape=test.shape)
    hidden = ~known

    def rmse(scores):
        pred = np.clip(scores[test.row[hidden], test.col[hidden]], 0.5, 5.0)
        return np.sqrt(np.mean((pred - test.data[hidden]) ** 2))

    X_train = X[np.sort(perm[:n_train])]
    baseline = rmse(BaselinePredictor().fit(X_train).predict_unseen(X_known))
    model = rmse(KMeansSoftmax(random_state=0).fit(X_train).predict_unseen(X_known))
    assert model < 0.99 * baseline
