r"""The live counters the ratings store keeps for a model version
(``shared/store/lua/ratings.lua``), computed from the training data instead: what the API reads
right after the version is published, so an offline evaluation feeds the strategies exactly the
inputs users get.

Per taste cluster ``c`` and movie ``i``, over the users of ``c`` (and a user who joins it):

- favourites: how many favour ``i``;
- counts ``n`` and half-star sums ``s`` of their ratings of ``i``;
- means, for ``n > 0``: :math:`(s/2 + \lambda\,p_i) / (n + \lambda)`, the cluster's mean shrunk
  toward the prior :math:`p_i = \mu + b_i` of the version's baseline with ``shrink``
  :math:`\lambda`;
- size: how many users it has.

And over every user, each movie's popularity: how many users favour it. Ranked counters are
Redis sorted sets, read highest first with ties in descending order of the movie id as a
string; the reads here order them the same way.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from shared.recsys.models.cluster_fixing import favourite_counts
from shared.recsys.ratings import FAVOURITE_RATING
from shared.recsys.strategies import ClusterCounters, ClusterReads


def _per_cluster(labels, matrix, n_clusters: int) -> np.ndarray:
    """clusters x movies sums of the rows of an integer-valued ``matrix`` by cluster, dense."""
    return favourite_counts(labels, matrix, n_clusters).toarray()


def _half_stars(ratings: sp.csr_matrix) -> sp.csr_matrix:
    half = ratings.copy()
    half.data = np.rint(half.data * 2)
    return half


def _favourites_of(ratings: sp.csr_matrix) -> sp.csr_matrix:
    """Ratings of ``FAVOURITE_RATING`` or more, as the script marks a rating favoured."""
    return sp.csr_matrix(ratings >= FAVOURITE_RATING, dtype=np.float64)


class PublishedCounters:
    """The counters of a version just published over the users of ``ratings``.

    ``ratings``: users x movies CSR of the ratings (0.5..5); ``labels``: each user's cluster;
    ``baseline``: the version's fitted :class:`~shared.recsys.models.baseline.BaselinePredictor`;
    ``movie_ids``: the external id of each column; ``favourites``: users x movies of what each
    user favours (default: the ratings of ``FAVOURITE_RATING`` or more).
    """

    def __init__(self, ratings, labels, baseline, movie_ids, shrink: float, favourites=None):
        ratings = sp.csr_matrix(ratings, dtype=np.float64)
        ratings.eliminate_zeros()
        favourites = _favourites_of(ratings) if favourites is None else sp.csr_matrix(favourites)
        labels = np.asarray(labels, dtype=np.int64)
        n_clusters = int(labels.max()) + 1 if len(labels) else 0
        self.movie_ids = np.asarray(movie_ids, dtype=np.int64)
        self.shrink = float(shrink)
        self.priors = baseline.global_mean_ + baseline.item_bias_
        self.sizes = np.bincount(labels, minlength=n_clusters)
        self.favourites = _per_cluster(labels, favourites, n_clusters)
        self.counts = _per_cluster(labels, ratings != 0, n_clusters)
        self.half_star_sums = _per_cluster(labels, _half_stars(ratings), n_clusters)
        self.popularity = np.asarray(favourites.sum(axis=0)).ravel().astype(np.int64)
        # rank of each movie id as a string: Redis breaks score ties by the member's bytes
        self._text_rank = np.argsort(np.argsort(self.movie_ids.astype(str), kind="stable"))
        self._orders: dict[tuple[str, int], np.ndarray] = {}

    def means(self, counts: np.ndarray, half_star_sums: np.ndarray) -> np.ndarray:
        """Shrunk means of one cluster's counters, as the script computes them (NaN where
        ``counts`` is 0)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (half_star_sums / 2 + self.shrink * self.priors) / (counts + self.shrink)
        return np.where(counts > 0, means, np.nan)

    def _ranked(self, scores: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Column indices of the ``present`` entries, highest score first, ties as Redis."""
        candidates = np.flatnonzero(present)
        order = np.lexsort((self._text_rank[candidates], scores[candidates]))[::-1]
        return candidates[order]

    def _cluster_state(self, cluster: int, joining):
        """(size, favourites, counts, half-star sums) of ``cluster``, with the ``joining``
        user's (ratings row, favourites row) added as the script's ``assign`` adds them."""
        size = int(self.sizes[cluster]) if cluster < len(self.sizes) else 0
        rows: tuple[np.ndarray, ...]
        if cluster < len(self.sizes):
            rows = self.favourites[cluster], self.counts[cluster], self.half_star_sums[cluster]
        else:
            rows = tuple(np.zeros(len(self.movie_ids), dtype=np.int64) for _ in range(3))
        if joining is None:
            return (size, *rows)
        ratings, favourites = joining
        fav, counts, sums = (row.copy() for row in rows)
        fav[favourites.indices] += np.rint(favourites.data).astype(np.int64)
        counts[ratings.indices] += 1
        sums[ratings.indices] += np.rint(ratings.data * 2).astype(np.int64)
        return size + 1, fav, counts, sums

    def cluster(self, cluster: int, reads: ClusterReads, joining: sp.csr_matrix | None = None,
                joining_favourites: sp.csr_matrix | None = None) -> ClusterCounters:
        """What the store answers for ``cluster``'s counters as far as ``reads`` asks.

        ``joining`` is the 1 x movies ratings row of a user the version's classifier has just
        placed in the cluster (a user the version was not trained on): the script adds their
        ratings to the cluster's counters (their favourites: ``joining_favourites``, by
        default their ratings of ``FAVOURITE_RATING`` or more)."""
        if joining is not None:
            joining = sp.csr_matrix(joining, dtype=np.float64)
            joining.eliminate_zeros()
            liked = (_favourites_of(joining) if joining_favourites is None
                     else sp.csr_matrix(joining_favourites, dtype=np.float64))
            liked.eliminate_zeros()
            joining = (joining, liked)
        size, fav, counts, sums = self._cluster_state(cluster, joining)
        favourites: tuple[tuple[int, float], ...] = ()
        means: tuple[tuple[int, float, int], ...] = ()
        if reads.favourites:
            order = self._order("favourites", cluster, joining, lambda: self._ranked(fav, fav > 0))
            top = order[:reads.favourites]
            favourites = tuple((int(m), float(s)) for m, s in zip(self.movie_ids[top], fav[top]))
        if reads.means:
            values = self.means(counts, sums)
            order = self._order("means", cluster, joining,
                                lambda: self._ranked(values, counts > 0))
            top = order[:reads.means]
            means = tuple((int(m), float(s), int(n))
                          for m, s, n in zip(self.movie_ids[top], values[top], counts[top]))
        return ClusterCounters(cluster, size, favourites, means)

    def _order(self, kind: str, cluster: int, joining, rank) -> np.ndarray:
        """``rank()``, kept for a cluster as published (a joining user changes it)."""
        if joining is not None:
            return rank()
        key = (kind, cluster)
        if key not in self._orders:
            self._orders[key] = rank()
        return self._orders[key]

    def popular(self, limit: int) -> tuple[tuple[int, float], ...]:
        """The ``limit`` movies most users favour, as ``(movie_id, users)``, most first."""
        if limit <= 0:
            return ()
        order = self._order("popular", -1, None,
                            lambda: self._ranked(self.popularity, self.popularity > 0))
        top = order[:limit]
        return tuple((int(m), float(s)) for m, s in zip(self.movie_ids[top], self.popularity[top]))
