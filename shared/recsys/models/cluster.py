"""Rating predictions from user clusters: each cluster's mean shrunk toward the baseline (seed 002).

A cluster's knowledge of a movie is three plain k x n_movies arrays - the sum of its members'
centred ratings, how many members rated the movie, how many favourite it - so a worker can keep
them current one event at a time and a trainer can rebuild them from the ratings.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.preprocessing import normalize

from shared.recsys.models.base import RatingPredictor, as_ratings
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.cluster_fixing import favourite_counts
from shared.recsys.models.features import baseline_residuals, favourites
from shared.recsys.models.kmeans import UserKMeans
from shared.recsys.ratings import FAVOURITE_RATING


def default_baseline() -> BaselinePredictor:
    """The baseline the cluster models centre on: lighter damping than BaselinePredictor's
    defaults, which predicted better under the new-users protocol on ml-latest-small."""
    return BaselinePredictor(reg_user=3.0, reg_item=3.0)


def cluster_sums(centred, labels, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster and movie, the sum of the members' centred ratings and how many rated it.

    ``centred`` is a users x movies CSR whose stored entries are exactly the rated movies
    (a centred rating of 0 stays stored). Returns two dense k x n_movies arrays.
    """
    centred = sp.csr_matrix(centred)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    onehot = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(n_clusters, n))
    rated = centred.copy()
    rated.data = np.ones_like(rated.data)
    sums = (onehot @ centred).toarray()
    counts = np.rint((onehot @ rated).toarray()).astype(np.int64)
    return sums, counts


class ClusterMeans(RatingPredictor):
    r"""Each cluster's mean opinion of a movie, shrunk toward the baseline (seed 002's prediction).

    .. math::
        \hat r_{ui} = b_{ui} + \frac{\sum_{v \in C(u),\ v \text{ rated } i} (r_{vi} - b_{vi})}
                                   {n_{C(u),i} + \lambda},
        \qquad b_{ui} = \mu + b_u + b_i

    Seed 002 predicts the plain cluster mean, so a movie rated once, 5 stars, tops the cluster's
    list (its quiz); here that single rating only moves the prediction by
    :math:`(5 - b_{vi}) / (1 + \lambda)` above the movie's baseline.

    The learned state a worker updates live: ``cluster_sums_[c, i]`` (sum of
    :math:`r_{vi} - b_{vi}` over members v of c), ``cluster_counts_[c, i]`` (:math:`n_{ci}`) and
    ``cluster_favourites_[c, i]`` (members rating i at ``favourite_threshold`` or more).

    Parameters
    ----------
    n_clusters : int
        k for the internal k-means on unit-length residual rows (as :class:`KMeansSoftmax`'s
        default); unused when ``fit`` gets ``labels``.
    shrinkage : float
        :math:`\lambda`, pseudo-ratings at the baseline added to every cluster and movie.
    baseline : BaselinePredictor or None
        Template of :math:`b_{ui}` (cloned and fitted); None uses :func:`default_baseline`.
    n_init : int
        Restarts of the internal k-means.
    favourite_threshold : float
        Rating from which a movie counts as a favourite (seed 001: 4).
    random_state : int, RandomState or None
        Seeds the internal k-means.
    """

    def __init__(self, n_clusters: int = 10, shrinkage: float = 10.0, baseline=None,
                 n_init: int = 4, favourite_threshold: float = FAVOURITE_RATING,
                 random_state=None):
        self.n_clusters = n_clusters
        self.shrinkage = shrinkage
        self.baseline = baseline
        self.n_init = n_init
        self.favourite_threshold = favourite_threshold
        self.random_state = random_state

    def fit(self, X, y=None, labels=None):
        """Fit on ratings ``X``; ``labels`` (one cluster 0..k-1 per user, e.g. after
        :func:`cluster_fixing.fix_small_clusters`) skip the internal k-means."""
        X = as_ratings(X)
        self.baseline_ = (clone(self.baseline) if self.baseline is not None
                          else default_baseline()).fit(X)
        residuals = self._residuals(X)
        if labels is None:
            kmeans = UserKMeans(n_clusters=self.n_clusters, n_init=self.n_init,
                                random_state=self.random_state)
            labels = kmeans.fit(normalize(residuals, norm="l2", axis=1)).labels_
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) != X.shape[0]:
            raise ValueError(f"{len(labels)} labels for {X.shape[0]} users")
        k = int(labels.max()) + 1
        self.labels_ = labels
        self.cluster_sums_, self.cluster_counts_ = cluster_sums(residuals, labels, k)
        self.cluster_favourites_ = favourite_counts(
            labels, favourites(X, self.favourite_threshold), k).toarray()
        return self

    def _residuals(self, X, user_bias=None):
        b = self.baseline_
        return baseline_residuals(X, b.global_mean_,
                                  b.user_bias_ if user_bias is None else user_bias, b.item_bias_)

    def offsets(self) -> np.ndarray:
        """k x n_movies shrunk mean residual of each cluster, from the current sums and counts."""
        return self.cluster_sums_ / (self.cluster_counts_ + self.shrinkage)

    def _baseline_scores(self, user_bias) -> np.ndarray:
        b = self.baseline_
        return b.global_mean_ + np.asarray(user_bias)[:, None] + b.item_bias_[None, :]

    def score_users(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return (self._baseline_scores(self.baseline_.user_bias_[users])
                + self.offsets()[self.labels_[users]])

    def assign(self, X_new) -> np.ndarray:
        """Clusters for unseen users: the one whose offsets best fit (least squares over the
        movies each user rated) the user's residuals from the baseline."""
        X_new = as_ratings(X_new)
        residuals = self._residuals(X_new, self.baseline_.user_bias_for(X_new))
        rated = residuals.copy()
        rated.data = np.ones_like(rated.data)
        offsets = self.offsets()
        # sum_i (e_ui - m_ci)^2 without the sum_i e_ui^2 term, which is the same for every c
        error = np.asarray(rated @ (offsets**2).T) - 2.0 * np.asarray(residuals @ offsets.T)
        return np.argmin(error, axis=1)

    def predict_unseen(self, X_new, labels=None) -> np.ndarray:
        """Predictions for unseen users from their ratings ``X_new``, in ``labels`` if given,
        else in the clusters :meth:`assign` picks."""
        X_new = as_ratings(X_new)
        labels = self.assign(X_new) if labels is None else np.asarray(labels, dtype=np.int64)
        return (self._baseline_scores(self.baseline_.user_bias_for(X_new))
                + self.offsets()[labels])
