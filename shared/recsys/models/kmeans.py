"""k-means on sparse user vectors, without ever densifying the users x movies matrix.

Squared distances come from ``||x||^2 - 2 x.c + ||c||^2``: the only product is the sparse
``X @ C.T``, and the centroids ``C`` are a dense k x n_movies array.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state


def _as_float(X):
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        X.sort_indices()
        return X
    return np.asarray(X, dtype=np.float64)


def _squared_norms(X) -> np.ndarray:
    if sp.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", X, X)


def _squared_distances(X, x_sq: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """n x k squared Euclidean distances, clipped at 0 against rounding."""
    cross = np.asarray(X @ centers.T)
    dist = x_sq[:, None] - 2.0 * cross + np.einsum("ij,ij->i", centers, centers)[None, :]
    return np.maximum(dist, 0.0, out=dist)


def squared_distances(X, centers) -> np.ndarray:
    """n x k squared Euclidean distances from the rows of ``X`` (sparse or dense) to ``centers``."""
    X = _as_float(X)
    return _squared_distances(X, _squared_norms(X), np.asarray(centers, dtype=np.float64))


def _rows_dense(X, rows) -> np.ndarray:
    picked = X[rows]
    return picked.toarray() if sp.issparse(picked) else np.array(picked, dtype=np.float64)


def _cluster_sums(X, labels: np.ndarray, k: int) -> np.ndarray:
    n = X.shape[0]
    onehot = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
    sums = onehot @ X
    return sums.toarray() if sp.issparse(sums) else np.asarray(sums)


def kmeans_plusplus(X, n_clusters: int, random_state=None, x_sq=None) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii, as in scikit-learn).

    Each new centre is the best, by resulting inertia, of ``2 + log k`` candidates drawn with
    probability proportional to the squared distance to the nearest centre chosen so far.
    """
    X = _as_float(X)
    rng = check_random_state(random_state)
    n, d = X.shape
    x_sq = _squared_norms(X) if x_sq is None else x_sq
    n_trials = 2 + int(np.log(n_clusters))
    centers = np.empty((n_clusters, d))
    centers[0] = _rows_dense(X, [rng.randint(n)])[0]
    closest = _squared_distances(X, x_sq, centers[:1])[:, 0]
    potential = closest.sum()
    for c in range(1, n_clusters):
        if potential > 0:
            draws = rng.uniform(size=n_trials) * potential
            candidates = np.minimum(np.searchsorted(np.cumsum(closest), draws), n - 1)
        else:  # every point already sits on a centre
            candidates = rng.randint(n, size=n_trials)
        candidate_rows = _rows_dense(X, candidates)
        trial = np.minimum(closest[:, None], _squared_distances(X, x_sq, candidate_rows))
        trial_potential = trial.sum(axis=0)
        best = int(np.argmin(trial_potential))
        centers[c] = candidate_rows[best]
        closest, potential = trial[:, best], trial_potential[best]
    return centers


class UserKMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    r"""Lloyd's k-means with k-means++ seeding and restarts, on sparse or dense rows.

    Minimises the inertia (WCSS, seed 001) :math:`\sum_i \lVert x_i - c_{l(i)} \rVert^2` by
    alternating :math:`l(i) = \arg\min_j \lVert x_i - c_j \rVert^2` and
    :math:`c_j = \operatorname{mean}\{x_i : l(i) = j\}` (seed 000's algorithm). An emptied
    cluster is re-seeded with the point farthest from its centre.

    Parameters
    ----------
    n_clusters : int
        k, the number of clusters.
    n_init : int
        Independent k-means++ restarts; the run with the lowest inertia is kept.
    max_iter : int
        Most Lloyd iterations per restart.
    tol : float
        Stop when the squared centre shift falls below ``tol`` times the mean feature variance.
    random_state : int, RandomState or None
        Seeds the k-means++ draws; an int makes ``fit`` deterministic.
    init : array (n_clusters, n_features) or None
        Where Lloyd starts, in one run (``n_init`` ignored): the centres of a k-means of a
        sample of the rows, say. None: ``n_init`` k-means++ seedings.
    """

    def __init__(self, n_clusters: int = 8, n_init: int = 10, max_iter: int = 300,
                 tol: float = 1e-4, random_state=None, init=None):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.init = init

    def fit(self, X, y=None):
        X = _as_float(X)
        if X.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}")
        rng = check_random_state(self.random_state)
        x_sq = _squared_norms(X)
        tol = self.tol * self._mean_variance(X)
        best = None
        if self.init is not None:
            init = np.array(self.init, dtype=np.float64)
            if init.shape != (self.n_clusters, X.shape[1]):
                raise ValueError(f"init must be ({self.n_clusters}, {X.shape[1]}) centres, "
                                 f"got {init.shape}")
            best = self._lloyd(X, x_sq, init, tol)
        for _ in range(self.n_init if self.init is None else 0):
            seed = rng.randint(np.iinfo(np.int32).max)
            run = self._lloyd(X, x_sq, kmeans_plusplus(X, self.n_clusters, seed, x_sq), tol)
            if best is None or run[2] < best[2]:
                best = run
        self.cluster_centers_, self.labels_, self.inertia_, self.n_iter_ = best
        self.n_features_in_ = X.shape[1]
        return self

    @staticmethod
    def _mean_variance(X) -> float:
        if sp.issparse(X):
            mean = np.asarray(X.mean(axis=0)).ravel()
            mean_sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
            return float(np.mean(mean_sq - mean**2))
        return float(np.mean(np.var(X, axis=0)))

    def _lloyd(self, X, x_sq, centers, tol):
        k = self.n_clusters
        labels = None
        n_iter = 0
        while n_iter < self.max_iter:
            n_iter += 1
            dist = _squared_distances(X, x_sq, centers)
            new_labels = np.argmin(dist, axis=1)
            new_labels = self._refill_empty(new_labels, dist)
            if labels is not None and np.array_equal(new_labels, labels):
                break
            labels = new_labels
            counts = np.bincount(labels, minlength=k)
            with np.errstate(invalid="ignore", divide="ignore"):
                new_centers = _cluster_sums(X, labels, k) / counts[:, None]
            new_centers[counts == 0] = centers[counts == 0]
            shift = float(((new_centers - centers) ** 2).sum())
            centers = new_centers
            if shift <= tol:
                break
        dist = _squared_distances(X, x_sq, centers)
        labels = np.argmin(dist, axis=1)
        inertia = float(dist[np.arange(len(labels)), labels].sum())
        return centers, labels, inertia, n_iter

    def _refill_empty(self, labels, dist):
        counts = np.bincount(labels, minlength=self.n_clusters)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            own = dist[np.arange(len(labels)), labels]
            farthest = np.argsort(-own, kind="stable")[: len(empty)]
            labels = labels.copy()
            labels[farthest] = empty
        return labels

    def predict(self, X) -> np.ndarray:
        """Index of the nearest centre of each row of ``X``."""
        return np.argmin(squared_distances(X, self.cluster_centers_), axis=1)

    def transform(self, X) -> np.ndarray:
        """Euclidean distances of each row of ``X`` to every centre: n x k."""
        return np.sqrt(squared_distances(X, self.cluster_centers_))

    def score(self, X, y=None) -> float:
        """Minus the inertia of ``X`` against the fitted centres (higher is better)."""
        return -float(squared_distances(X, self.cluster_centers_).min(axis=1).sum())
