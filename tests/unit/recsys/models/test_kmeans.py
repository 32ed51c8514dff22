import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from shared.recsys.models.kmeans import UserKMeans, kmeans_plusplus, squared_distances


def planted_users(n_per_group=20, n_groups=3, movies_per_group=15, seed=0):
    """Sparse users x movies: each group rates (about half of) its own block of movies only."""
    rng = np.random.default_rng(seed)
    rows, cols, vals, truth = [], [], [], []
    for g in range(n_groups):
        for u in range(n_per_group):
            user = g * n_per_group + u
            movies = g * movies_per_group + np.flatnonzero(rng.random(movies_per_group) < 0.5)
            rows += [user] * len(movies)
            cols += movies.tolist()
            vals += (4.0 + rng.random(len(movies))).tolist()
            truth.append(g)
    shape = (n_groups * n_per_group, n_groups * movies_per_group)
    X = sp.csr_matrix((vals, (rows, cols)), shape=shape)
    return X, np.array(truth)


def test_recovers_planted_clusters_in_sparse_data():
    X, truth = planted_users()
    model = UserKMeans(n_clusters=3, n_init=3, random_state=0).fit(X)
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    assert model.cluster_centers_.shape == (3, X.shape[1])
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_inertia_and_centres_by_hand():
    X = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 4.0]])
    model = UserKMeans(n_clusters=2, n_init=2, random_state=0).fit(sp.csr_matrix(X))
    order = np.argsort(model.cluster_centers_[:, 0])
    np.testing.assert_allclose(model.cluster_centers_[order], [[0.0, 1.0], [10.0, 2.0]])
    # each point is 1 (left pair) or 2 (right pair) away from its centre: 1+1+4+4
    assert model.inertia_ == pytest.approx(10.0)
    assert model.score(X) == pytest.approx(-10.0)
    # (0, 0) lies 1 from (0, 1) and sqrt(10^2 + 2^2) from (10, 2)
    np.testing.assert_allclose(model.transform(X[:1])[0, order], [1.0, np.sqrt(104.0)])


def test_sparse_and_dense_input_agree():
    X, _ = planted_users(seed=1)
    sparse = UserKMeans(n_clusters=3, n_init=2, random_state=5).fit(X)
    dense = UserKMeans(n_clusters=3, n_init=2, random_state=5).fit(X.toarray())
    np.testing.assert_array_equal(sparse.labels_, dense.labels_)
    np.testing.assert_allclose(sparse.cluster_centers_, dense.cluster_centers_)
    assert sparse.inertia_ == pytest.approx(dense.inertia_)


def test_deterministic_with_random_state_and_clone():
    X, _ = planted_users(seed=2)
    a = UserKMeans(n_clusters=4, n_init=2, random_state=7).fit(X)
    b = clone(a).fit(X)
    assert b.get_params() == a.get_params()
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert not hasattr(clone(a), "labels_")


def test_more_restarts_never_increase_inertia():
    X, _ = planted_users(n_per_group=10, n_groups=5, seed=3)
    one = UserKMeans(n_clusters=7, n_init=1, random_state=0).fit(X).inertia_
    many = UserKMeans(n_clusters=7, n_init=8, random_state=0).fit(X).inertia_
    # the first restart of both runs is the same draw, so the best of 8 is at most it
    assert many <= one + 1e-9


def test_a_run_from_given_centres_starts_there():
    X = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 4.0]])
    started = UserKMeans(n_clusters=2, n_init=5, init=[[1.0, 1.0], [9.0, 1.0]]).fit(X)
    np.testing.assert_allclose(started.cluster_centers_, [[0.0, 1.0], [10.0, 2.0]])
    assert started.inertia_ == pytest.approx(10.0)
    # from a bad start Lloyd stays in the split it starts with: bottom and top, not left
    # and right (inertia 4 x 1)
    square = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
    stuck = UserKMeans(n_clusters=2, n_init=5, init=[[5.0, 0.0], [5.0, 2.0]]).fit(square)
    assert stuck.inertia_ == pytest.approx(4 * 25.0)
    assert UserKMeans(n_clusters=2, n_init=5, random_state=0).fit(square).inertia_ \
        == pytest.approx(4.0)
    with pytest.raises(ValueError, match=r"init must be \(2, 2\) centres"):
        UserKMeans(n_clusters=2, init=[[0.0, 0.0, 0.0]]).fit(X)


def test_kmeans_plusplus_picks_data_rows():
    X, _ = planted_users(seed=4)
    centers = kmeans_plusplus(X, 5, random_state=0)
    dense = X.toarray()
    for c in centers:
        assert np.any(np.all(np.isclose(dense, c), axis=1))


def test_duplicate_points_leave_no_empty_or_nan_cluster():
    # two distinct points, three clusters: one centre must be a duplicate
    X = sp.csr_matrix(np.array([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4))
    model = UserKMeans(n_clusters=3, n_init=2, random_state=0).fit(X)
    assert np.all(np.isfinite(model.cluster_centers_))
    assert model.inertia_ == pytest.approx(0.0)
    assert set(model.labels_) <= {0, 1, 2}


def test_too_few_rows_is_an_error():
    with pytest.raises(ValueError):
        UserKMeans(n_clusters=5).fit(np.eye(3))


def test_squared_distances_by_hand():
    d = squared_distances(sp.csr_matrix([[3.0, 4.0]]), np.array([[0.0, 0.0], [3.0, 0.0]]))
    np.testing.assert_allclose(d, [[25.0, 16.0]])
