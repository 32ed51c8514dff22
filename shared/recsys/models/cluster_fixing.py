"""Seed 001's ``fixClusters``: dissolve clusters too small to recommend from, vectorised."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class FixedClusters:
    """Result of :func:`fix_small_clusters`.

    ``labels`` are the new labels 0..k'-1; ``favourite_counts`` is the k' x n_movies CSR of how
    many members of each cluster favourite each movie; ``mapping[old] = new`` (-1 for a
    dissolved cluster); ``moved`` are the users that changed cluster.
    """

    labels: np.ndarray
    favourite_counts: sp.csr_matrix
    mapping: np.ndarray
    moved: np.ndarray


def favourite_counts(labels, favourites, n_clusters: int | None = None) -> sp.csr_matrix:
    """k x n_movies CSR (int64) of how many users of each cluster favourite each movie."""
    labels = np.asarray(labels, dtype=np.int64)
    k = int(labels.max()) + 1 if n_clusters is None else n_clusters
    n = len(labels)
    onehot = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
    counts = (onehot @ sp.csr_matrix(favourites, dtype=np.float64)).tocsr()
    counts.data = np.rint(counts.data)
    return counts.astype(np.int64)


def fix_small_clusters(labels, favourites, min_cluster_size: int,
                       n_clusters: int | None = None) -> FixedClusters:
    """Move the users of clusters smaller than ``min_cluster_size`` into surviving clusters.

    Each moved user goes to the surviving cluster whose movie list (the movies favourited by its
    original members) holds the largest share of the user's favourites - seed 001's
    ``count / len(user_movies)``; ties go to the larger cluster, then the lower number, so a user
    with no favourites joins the largest cluster. Survivors keep their order and are renumbered
    0..k'-1. If no cluster is big enough, the largest one survives alone. Favourite counts are
    recounted from the final labels (the seed instead appended a moved user's missing movies
    with count 1, which drops the user's movies the cluster already had).

    ``favourites`` is the users x movies 0/1 matrix (:func:`features.favourites`).
    """
    labels = np.asarray(labels, dtype=np.int64)
    F = sp.csr_matrix(favourites, dtype=np.float64)
    if F.shape[0] != len(labels):
        raise ValueError(f"{len(labels)} labels for {F.shape[0]} users")
    k = int(labels.max()) + 1 if n_clusters is None else n_clusters
    mapping, moved = dissolve_small_clusters(labels, min_cluster_size, k)
    new_labels = mapping[labels]
    if len(moved):
        survivors = np.flatnonzero(mapping >= 0)
        new_labels[moved] = closest_survivors(F[moved], favourite_counts(labels, F, k)[survivors],
                                              np.bincount(labels, minlength=k)[survivors])
    return FixedClusters(labels=new_labels,
                         favourite_counts=favourite_counts(new_labels, F, int(mapping.max()) + 1),
                         mapping=mapping, moved=moved)


def dissolve_small_clusters(labels, min_cluster_size: int, n_clusters: int
                            ) -> tuple[np.ndarray, np.ndarray]:
    """``(mapping, moved)`` of :func:`fix_small_clusters`: the survivors' new numbers (-1 for a
    dissolved cluster) and the users whose cluster is dissolved."""
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(labels, minlength=n_clusters)
    survives = sizes >= min_cluster_size
    if not survives.any():
        survives[np.argmax(sizes)] = True
    survivors = np.flatnonzero(survives)
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    mapping[survivors] = np.arange(len(survivors))
    return mapping, np.flatnonzero(mapping[labels] < 0)


def closest_survivors(moved_favourites, survivor_favourite_counts, survivor_sizes
                      ) -> np.ndarray:
    """The new cluster of each moved user (rows of ``moved_favourites``, users x movies 0/1):
    the survivor whose movie list (movies with a count in ``survivor_favourite_counts``,
    survivors x movies) holds most of the user's favourites, ties to the larger
    (``survivor_sizes``), then the lower number. Only these reach an engine that keeps the
    users elsewhere (Spark): a few users' rows and the clusters' counts."""
    in_movie_list = (sp.csr_matrix(survivor_favourite_counts) > 0).astype(np.float64)
    # The share's denominator |favourites(u)| is the same for every cluster, so the argmax of
    # the overlap count is the argmax of the share.
    overlap = np.asarray((sp.csr_matrix(moved_favourites, dtype=np.float64)
                          @ in_movie_list.T).todense())
    best = overlap == overlap.max(axis=1, keepdims=True)
    size_if_best = np.where(best, np.asarray(survivor_sizes)[None, :], -1)
    return np.argmax(size_if_best, axis=1)
