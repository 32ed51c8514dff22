"""The users' taste clusters as the service keeps them: choose k (seeds 001, 002), k-means, then
dissolve the clusters too small to recommend from (seed 001's ``fixClusters``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from shared.recsys.models.cluster_fixing import FixedClusters, fix_small_clusters
from shared.recsys.models.k_selection import KScan, scan_k
from shared.recsys.models.kmeans import UserKMeans

# k is chosen on at most this many users drawn at random, and the chosen k-means fitted again
# on every user: a scan of ten k on 162,000 users took 806 s of a 25M-rating retrain, and
# which k the rules choose is settled well before 20,000 users.
K_SCAN_USERS = 20_000


@dataclass(frozen=True)
class UserClusters:
    """What :func:`cluster_users` found: the scan of k, the k chosen, the k-means fitted with it
    and the clusters after fixing (``fixed.labels``: one cluster 0..k'-1 per user)."""

    scan: KScan
    k: int
    kmeans: UserKMeans
    fixed: FixedClusters

    @property
    def labels(self) -> np.ndarray:
        return self.fixed.labels

    @property
    def sizes_before_fixing(self) -> np.ndarray:
        return np.bincount(self.kmeans.labels_, minlength=self.k)

    @property
    def sizes_after_fixing(self) -> np.ndarray:
        return np.bincount(self.fixed.labels, minlength=int(self.fixed.labels.max()) + 1)


def cluster_users(features, favourites, k_rule: str | int, k_range: tuple[int, int],
                  min_cluster_size: int, random_state=0) -> UserClusters:
    """Scan k over ``k_range`` (both ends included, the top capped at one less than the number
    of users) with k-means on ``features`` (users x features, e.g.
    :func:`features.taste_vectors`), take the k ``k_rule`` names (``'elbow'``,
    ``'silhouette'`` or a number, in the range or not), then dissolve the clusters smaller than
    ``min_cluster_size`` by the users' ``favourites`` (users x movies 0/1). With more than
    ``K_SCAN_USERS`` users, the scan runs on that many of them (:func:`scan_sample`) and the
    chosen k's k-means is fitted again on all, from the centres it found on them."""
    lo, hi = k_range
    hi = min(hi, features.shape[0] - 1)
    lo = min(lo, hi)
    sample = scan_sample(features.shape[0], random_state)
    scan = scan_k(features if sample is None else features[sample], range(lo, hi + 1),
                  random_state=random_state)
    k = int(k_rule) if str(k_rule).isdigit() else scan.choose_k(str(k_rule))
    if k in scan.ks:
        kmeans = scan.model_for(k)
        if sample is not None:  # on all users, from the sample's centres
            kmeans = clone(kmeans).set_params(init=kmeans.cluster_centers_).fit(features)
    else:
        kmeans = UserKMeans(n_clusters=k, random_state=random_state).fit(features)
    fixed = fix_small_clusters(kmeans.labels_, favourites, min_cluster_size, n_clusters=k)
    return UserClusters(scan=scan, k=k, kmeans=kmeans, fixed=fixed)


def scan_sample(n_users: int, random_state=0) -> np.ndarray | None:
    """The users k is scanned on, increasing: ``K_SCAN_USERS`` of them drawn at random
    (None: all, when there are no more)."""
    if n_users <= K_SCAN_USERS:
        return None
    return np.sort(np.random.default_rng(random_state).choice(n_users, K_SCAN_USERS,
                                                              replace=False))
