"""Seed 000's whole method: k-means labels the training users, softmax assigns new users."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.preprocessing import normalize as l2_normalize
from sklearn.utils import check_random_state

from shared.recsys.models.base import RatingPredictor, as_ratings
from shared.recsys.models.cluster import cluster_sums, default_baseline
from shared.recsys.models.cluster_fixing import favourite_counts
from shared.recsys.models.features import baseline_residuals, favourites, mean_centered, user_means
from shared.recsys.models.kmeans import UserKMeans, squared_distances
from shared.recsys.models.softmax import SoftmaxRegression
from shared.recsys.ratings import FAVOURITE_RATING

CENTRINGS = ("mean", "baseline")
PREDICTIONS = ("centroid", "cluster_means")
ASSIGNMENTS = ("hard", "soft", "fitted")


def _onehot(labels, n_clusters: int) -> np.ndarray:
    weights = np.zeros((len(labels), n_clusters))
    weights[np.arange(len(labels)), labels] = 1.0
    return weights


class KMeansSoftmax(RatingPredictor):
    r"""Cluster the training users with k-means, classify new users into the clusters with softmax
    regression, predict from the cluster (seed 000).

    Every user's ratings are centred on a base :math:`\beta_{ui}` - the user's mean
    (``centring='mean'``, seed 000) or the baseline :math:`\mu + b_u + b_i` (``'baseline'``) -
    giving residuals :math:`e_{ui}`; k-means clusters these rows (scaled to unit length if
    ``normalize``, so that heavy raters do not each become a cluster of their own) and softmax
    regression learns the labels. A user with cluster weights :math:`w_u` (one-hot or not) gets

    .. math::
        \hat r_{ui} = \beta_{ui} + \sum_c w_{uc}\, m_{ci}, \qquad
        m_{ci} = \frac{S_{ci}}{|C_c|} \ (\text{'centroid'}) \quad\text{or}\quad
        \frac{S_{ci}}{n_{ci} + \lambda} \ (\text{'cluster_means'})

    with :math:`S_{ci}` the members' summed residuals on movie i and :math:`n_{ci}` how many rated
    it. Seed 000 is ``centring='mean', normalize=False, prediction='centroid', assignment='hard'``:
    :math:`\hat r_{ui} = \bar r_u + c_{l(u),i}`, the user's mean plus the softmax-chosen centroid.
    The defaults predict better (see the parameters). For training users the k-means label
    (one-hot) stands in for the softmax probabilities.

    ``cluster_sums_`` (:math:`S`), ``cluster_counts_`` (:math:`n`) and ``cluster_favourites_``
    are plain k x n_movies arrays a worker can update one rating at a time: a rating
    :math:`r_{ui}` by a member of cluster c adds :math:`r_{ui} - \beta_{ui}` to :math:`S_{ci}`,
    1 to :math:`n_{ci}` and, from ``favourite_threshold`` up, 1 to the favourites;
    :meth:`offsets` reads them afresh.

    Parameters
    ----------
    n_clusters : int
        k; unused when ``fit`` gets ``labels``.
    centring : {'mean', 'baseline'}
        The base :math:`\beta_{ui}` ratings are centred on and predictions start from.
    normalize : bool
        Cluster and classify unit-length residual rows (cosine geometry).
    prediction : {'centroid', 'cluster_means'}
        The cluster's opinion :math:`m_{ci}`: the centroid (unrated counts as 0) or the mean of
        the members who rated the movie, shrunk toward 0 by ``shrinkage`` pseudo-ratings.
    assignment : {'hard', 'soft', 'fitted'}
        New users' weights: the softmax's most probable cluster, its probabilities, or the
        mixture of cluster opinions that best fits the user's known residuals, ridge-pulled toward
        the probabilities: :math:`\arg\min_w \sum_{i \in R(u)} (e_{ui} - w \cdot m_i)^2 +
        \gamma \lVert w - p_u \rVert^2`.
    shrinkage : float
        :math:`\lambda` of ``'cluster_means'``.
    prior_strength : float
        :math:`\gamma` of ``'fitted'``: how strongly the softmax probabilities hold the weights.
    l2 : float
        Weight decay of the softmax regression.
    n_init : int
        k-means restarts.
    softmax_max_iter : int
        Most L-BFGS-B iterations of the softmax regression.
    baseline : BaselinePredictor or None
        Template of :math:`\mu + b_u + b_i` (cloned, fitted); None uses
        :func:`shared.recsys.models.cluster.default_baseline`.
    favourite_threshold : float
        Rating from which a movie counts in ``cluster_favourites_``.
    random_state : int, RandomState or None
        Seeds k-means.
    """

    def __init__(self, n_clusters: int = 5, centring: str = "baseline", normalize: bool = True,
                 prediction: str = "cluster_means", assignment: str = "fitted",
                 shrinkage: float = 10.0, prior_strength: float = 2.0, l2: float = 1e-3,
                 n_init: int = 10, softmax_max_iter: int = 200, baseline=None,
                 favourite_threshold: float = FAVOURITE_RATING, random_state=None):
        self.n_clusters = n_clusters
        self.centring = centring
        self.normalize = normalize
        self.prediction = prediction
        self.assignment = assignment
        self.shrinkage = shrinkage
        self.prior_strength = prior_strength
        self.l2 = l2
        self.n_init = n_init
        self.softmax_max_iter = softmax_max_iter
        self.baseline = baseline
        self.favourite_threshold = favourite_threshold
        self.random_state = random_state

    def _check_params(self):
        for name, allowed in (("centring", CENTRINGS), ("prediction", PREDICTIONS),
                              ("assignment", ASSIGNMENTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def fit(self, X, y=None, labels=None):
        """Fit on ratings ``X``; ``labels`` (one cluster 0..k-1 per user, e.g. after
        :func:`cluster_fixing.fix_small_clusters`) replace the internal k-means."""
        self._check_params()
        X = as_ratings(X)
        self.baseline_ = (clone(self.baseline) if self.baseline is not None
                          else default_baseline()).fit(X)
        self.user_means_ = user_means(X, default=self.baseline_.global_mean_)
        residuals = self._residuals(X, self.user_means_, self.baseline_.user_bias_)
        features = self._features(residuals)
        if labels is None:
            self.kmeans_ = UserKMeans(n_clusters=self.n_clusters, n_init=self.n_init,
                                      random_state=self.random_state).fit(features)
            labels = self.kmeans_.labels_
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) != X.shape[0]:
            raise ValueError(f"{len(labels)} labels for {X.shape[0]} users")
        k = int(labels.max()) + 1
        self.labels_ = labels
        self.cluster_sizes_ = np.bincount(labels, minlength=k)
        self.cluster_sums_, self.cluster_counts_ = cluster_sums(residuals, labels, k)
        self.cluster_favourites_ = favourite_counts(
            labels, favourites(X, self.favourite_threshold), k).toarray()
        feature_sums, _ = cluster_sums(features, labels, k)
        self.cluster_centers_ = feature_sums / np.maximum(self.cluster_sizes_, 1)[:, None]
        self.softmax_ = SoftmaxRegression(l2=self.l2, max_iter=self.softmax_max_iter).fit(
            features, labels)
        self.user_weights_ = self._weights(residuals, _onehot(labels, k))
        return self

    # -- features -------------------------------------------------------------------------------
    def _residuals(self, X, means, user_bias) -> sp.csr_matrix:
        if self.centring == "mean":
            return mean_centered(X, means)
        b = self.baseline_
        return baseline_residuals(X, b.global_mean_, user_bias, b.item_bias_)

    def _features(self, residuals):
        return l2_normalize(residuals, norm="l2", axis=1) if self.normalize else residuals

    def _unseen(self, X_new):
        """Means, user biases and residuals of unseen users, from their ratings alone."""
        X_new = as_ratings(X_new)
        means = user_means(X_new, default=self.baseline_.global_mean_)
        user_bias = self.baseline_.user_bias_for(X_new)
        return means, user_bias, self._residuals(X_new, means, user_bias)

    def features(self, X_new):
        """The rows k-means and the softmax see, for users with ratings ``X_new``."""
        return self._features(self._unseen(X_new)[2])

    # -- clusters -------------------------------------------------------------------------------
    def offsets(self) -> np.ndarray:
        """k x n_movies cluster opinions :math:`m_{ci}`, from the current sums and counts."""
        if self.prediction == "centroid":
            return self.cluster_sums_ / np.maximum(self.cluster_sizes_, 1)[:, None]
        return self.cluster_sums_ / (self.cluster_counts_ + self.shrinkage)

    def predict_clusters(self, X_new) -> np.ndarray:
        """The softmax's cluster for each user with ratings ``X_new`` (seed 000's classifier)."""
        return self.softmax_.predict(self.features(X_new))

    def nearest_clusters(self, X_new) -> np.ndarray:
        """The cluster whose k-means centre is nearest each user's features (the label k-means
        itself would give; what the softmax accuracy is measured against)."""
        return np.argmin(squared_distances(self.features(X_new), self.cluster_centers_), axis=1)

    def cluster_weights(self, X_new) -> np.ndarray:
        """n x k weights :math:`w_u` of unseen users, by ``assignment``."""
        return self._weights_of_unseen(self._unseen(X_new)[2])

    def _weights_of_unseen(self, residuals) -> np.ndarray:
        proba = self.softmax_.predict_proba(self._features(residuals))
        prior = np.zeros((proba.shape[0], len(self.cluster_sizes_)))
        prior[:, self.softmax_.classes_] = proba
        if self.assignment == "hard":
            return _onehot(np.argmax(prior, axis=1), prior.shape[1])
        return self._weights(residuals, prior)

    def _weights(self, residuals, prior) -> np.ndarray:
        if self.assignment != "fitted":
            return prior
        m = self.offsets()
        k = m.shape[0]
        rated = residuals.copy()
        rated.data = np.ones_like(rated.data)
        # gram[u] = sum over the movies u rated of m_i m_i^T, one row of clusters at a time
        gram = np.empty((residuals.shape[0], k, k))
        for a in range(k):
            gram[:, a, :] = np.asarray(rated @ (m[a][:, None] * m.T))
        gram += self.prior_strength * np.eye(k)
        target = np.asarray(residuals @ m.T) + self.prior_strength * prior
        return np.linalg.solve(gram, target[:, :, None])[:, :, 0]

    # -- predictions ----------------------------------------------------------------------------
    def _base(self, means, user_bias) -> np.ndarray:
        if self.centring == "mean":
            return np.repeat(np.asarray(means)[:, None], len(self.baseline_.item_bias_), axis=1)
        b = self.baseline_
        return b.global_mean_ + np.asarray(user_bias)[:, None] + b.item_bias_[None, :]

    def score_users(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        base = self._base(self.user_means_[users], self.baseline_.user_bias_[users])
        return base + self.user_weights_[users] @ self.offsets()

    def predict_unseen(self, X_new) -> np.ndarray:
        means, user_bias, residuals = self._unseen(X_new)
        return self._base(means, user_bias) + self._weights_of_unseen(residuals) @ self.offsets()


class KMeansSoftmaxEnsemble(RatingPredictor):
    r"""The average of several :class:`KMeansSoftmax` that differ only in their k-means seed.

    .. math::
        \hat r_{ui} = \frac1M \sum_{m=1}^{M} \hat r^{(m)}_{ui}

    k-means on sparse ratings lands in a different partition from every seed; averaging a few
    of them smooths the hard cluster boundaries and predicted clearly better than any single
    member under the new-users protocol on ml-latest-small. Each member keeps its own cluster
    arrays, so live updates apply to every member.

    Parameters
    ----------
    estimator : KMeansSoftmax or None
        Template of the members (cloned; its ``random_state`` is replaced); None is
        ``KMeansSoftmax()``.
    n_members : int
        M, how many clusterings are averaged.
    random_state : int, RandomState or None
        Draws the members' seeds.
    """

    def __init__(self, estimator=None, n_members: int = 3, random_state=None):
        self.estimator = estimator
        self.n_members = n_members
        self.random_state = random_state

    def fit(self, X, y=None):
        X = as_ratings(X)
        rng = check_random_state(self.random_state)
        template = self.estimator if self.estimator is not None else KMeansSoftmax()
        self.members_ = [
            clone(template).set_params(random_state=rng.randint(np.iinfo(np.int32).max)).fit(X)
            for _ in range(self.n_members)]
        return self

    def score_users(self, users) -> np.ndarray:
        return np.mean([m.score_users(users) for m in self.members_], axis=0)

    def predict_unseen(self, X_new) -> np.ndarray:
        X_new = as_ratings(X_new)
        return np.mean([m.predict_unseen(X_new) for m in self.members_], axis=0)
