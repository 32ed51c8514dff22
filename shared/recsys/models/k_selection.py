"""Choosing k: seed 001's elbow rule on WCSS differences, and seed 002's silhouette score."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import silhouette_score
from sklearn.utils import check_random_state

from shared.recsys.blas import one_blas_thread
from shared.recsys.models.kmeans import UserKMeans


def elbow_k(ks, wcss, boundary: float) -> int:
    """Seed 001's rule: the first k after which every WCSS difference stays inside +-boundary.

    With ``d_j = wcss_j - wcss_{j+1}``, the chosen k is the one the last difference outside the
    boundary leads to ("after cluster 14 the differences are inside the boundary, so we use
    k=15"); ``ks[0]`` if no difference leaves it, ``ks[-1]`` if the last one still does (the
    elbow lies beyond the range scanned).
    """
    ks = np.asarray(ks)
    differences = -np.diff(np.asarray(wcss, dtype=np.float64))
    outside = np.flatnonzero(np.abs(differences) > boundary)
    return int(ks[0] if len(outside) == 0 else ks[outside[-1] + 1])


@dataclass(frozen=True)
class KScan:
    """WCSS and silhouette of k-means for each k scanned, and the k each rule chooses.

    ``differences[j] = wcss[j] - wcss[j+1]``; ``boundary`` is absolute (already scaled);
    ``silhouettes`` is NaN where it is undefined (k = 1) or was not computed; ``models`` holds
    the fitted k-means of each k, so the chosen one need not be fitted again.
    """

    ks: np.ndarray
    wcss: np.ndarray
    differences: np.ndarray
    boundary: float
    silhouettes: np.ndarray
    models: tuple

    def choose_k(self, rule: str = "elbow") -> int:
        if rule == "elbow":
            return elbow_k(self.ks, self.wcss, self.boundary)
        if rule == "silhouette":
            if np.all(np.isnan(self.silhouettes)):
                raise ValueError("no silhouette was computed in this scan")
            return int(self.ks[np.nanargmax(self.silhouettes)])
        raise ValueError(f"rule must be 'elbow' or 'silhouette', got {rule!r}")

    def model_for(self, k: int) -> UserKMeans:
        return self.models[int(np.flatnonzero(self.ks == k)[0])]


def scan_k(X, ks: Iterable[int], *, boundary: float = 0.01, relative: bool = True,
           silhouette: bool = True, silhouette_sample_size: int | None = 2000,
           kmeans: UserKMeans | None = None, random_state=0, n_jobs: int = -1) -> KScan:
    """Fit k-means for every k in ``ks`` on the rows of ``X`` and collect what both rules need.

    ``boundary`` is a fraction of ``WCSS(ks[0])`` when ``relative`` (so one setting works across
    data sets of any size), else an absolute WCSS difference as in seed 001. ``kmeans`` is the
    template estimator (its ``n_clusters`` is replaced per k); silhouettes are computed on at
    most ``silhouette_sample_size`` rows (None: all rows). ``n_jobs`` threads (-1: one per
    core) fit the values of k side by side; each k has its seed, so the scan does not depend
    on them.
    """
    ks = np.array(sorted(set(int(k) for k in ks)))
    if len(ks) == 0 or ks[0] < 1:
        raise ValueError("ks must hold at least one k >= 1")
    rng = check_random_state(random_state)
    template = kmeans if kmeans is not None else UserKMeans(n_init=4, max_iter=100)
    n_rows = X.shape[0]
    sample_size = None if silhouette_sample_size is None or silhouette_sample_size >= n_rows \
        else silhouette_sample_size
    seeds = [rng.randint(np.iinfo(np.int32).max) for _ in ks]

    def fit(k: int, seed: int):
        model = clone(template).set_params(n_clusters=int(k), random_state=seed).fit(X)
        return model, (_silhouette(X, model.labels_, sample_size, seed) if silhouette
                       else np.nan)

    with one_blas_thread():  # the threads share the cores, not BLAS
        fitted = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(fit)(k, seed) for k, seed in zip(ks, seeds))
    models = [model for model, _ in fitted]
    inertias = [model.inertia_ for model in models]
    silhouettes = [score for _, score in fitted]
    wcss = np.array(inertias)
    scale = wcss[0] if relative else 1.0
    return KScan(ks=ks, wcss=wcss, differences=-np.diff(wcss), boundary=float(boundary * scale),
                 silhouettes=np.array(silhouettes, dtype=np.float64), models=tuple(models))


def _silhouette(X, labels, sample_size, seed) -> float:
    n_labels = len(np.unique(labels))
    if not 2 <= n_labels <= X.shape[0] - 1:
        return np.nan
    try:
        return float(silhouette_score(X, labels, sample_size=sample_size, random_state=seed))
    except ValueError:  # a sample that happened to hold a single cluster
        return np.nan
