"""The user feature spaces the clustering seeds work in, all from a users x movies CSR matrix.

* :func:`mean_centered` - each rating minus its user's mean, unrated stays 0 (seed 000);
* :func:`baseline_residuals` - each rating minus ``mu + b_u + b_i`` of a fitted baseline;
* :func:`favourites` - 1 where the rating is a favourite's, 4 or more (seed 001);
* :func:`genre_averages` - each user's average rating per genre (seed 002);
* :func:`latent_factors` - a few dense latent factors per user (seed 003).

The first three stay sparse with the sparsity pattern of ``X``; the last two are small and dense.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize

from shared.recsys.models.base import as_ratings
from shared.recsys.ratings import FAVOURITE_RATING


def _row_of_each_entry(X: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))


def user_means(X, default: float | None = None) -> np.ndarray:
    """Mean of each user's ratings; a user with none gets ``default`` (the global mean if None)."""
    X = as_ratings(X)
    n_rated = np.diff(X.indptr)
    if default is None:
        default = float(X.data.mean()) if X.nnz else 0.0
    sums = np.bincount(_row_of_each_entry(X), X.data, minlength=X.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rated > 0, sums / n_rated, default)


def mean_centered(X, means: np.ndarray | None = None) -> sp.csr_matrix:
    """``a_ij - mean_i`` on the rated entries, 0 elsewhere (seed 000), as CSR.

    A rating equal to its user's mean becomes an explicit stored 0, so the sparsity pattern
    still says which movies were rated. ``means`` defaults to :func:`user_means`.
    """
    X = as_ratings(X)
    means = user_means(X) if means is None else np.asarray(means, dtype=np.float64)
    data = X.data - means[_row_of_each_entry(X)]
    return sp.csr_matrix((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)


def baseline_residuals(X, global_mean: float, user_bias: np.ndarray,
                       item_bias: np.ndarray) -> sp.csr_matrix:
    """``r_ui - (mu + b_u + b_i)`` on the rated entries, 0 elsewhere, as CSR.

    Centring by the baseline instead of the user mean also removes each movie's popularity,
    so what is left is taste.
    """
    X = as_ratings(X)
    rows = _row_of_each_entry(X)
    data = X.data - global_mean - np.asarray(user_bias)[rows] - np.asarray(item_bias)[X.indices]
    return sp.csr_matrix((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)


def favourites(X, threshold: float = FAVOURITE_RATING) -> sp.csr_matrix:
    """The 0/1 matrix of favourites: 1 where the rating is ``threshold`` or more (seed 001).

    Stored as float64 so it goes straight into k-means and sparse products without overflow.
    """
    X = as_ratings(X)
    data = (X.data >= threshold).astype(np.float64)
    F = sp.csr_matrix((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)
    F.eliminate_zeros()
    return F


def genre_averages(X, item_genres, fill: str = "user_mean") -> np.ndarray:
    """Each user's average rating of the movies of each genre (seed 002): dense users x genres.

    ``item_genres`` is a movies x genres 0/1 matrix (dense or sparse). A user who rated no movie
    of a genre gets ``fill``: ``'user_mean'`` (their own mean rating - the neutral choice, so an
    unseen genre neither attracts nor repels them in k-means) or ``'global_mean'``.
    """
    X = as_ratings(X)
    G = sp.csr_matrix(item_genres, dtype=np.float64)
    if G.shape[0] != X.shape[1]:
        raise ValueError(f"item_genres has {G.shape[0]} rows for {X.shape[1]} movies")
    rated = X.copy()
    rated.data[:] = 1.0
    sums = np.asarray((X @ G).todense())
    counts = np.asarray((rated @ G).todense())
    default: np.ndarray | float
    if fill == "user_mean":
        default = user_means(X)[:, None]
    elif fill == "global_mean":
        default = float(X.data.mean()) if X.nnz else 0.0
    else:
        raise ValueError(f"fill must be 'user_mean' or 'global_mean', got {fill!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, default)


def latent_factors(X, n_components: int = 16, random_state=None, model=None) -> np.ndarray:
    """Dense users x factors representation (seed 003).

    With ``model`` (any fitted estimator with a ``user_factors_`` array) its factors are returned
    as they are; otherwise the user scores ``U * S`` of a TruncatedSVD of the mean-centred matrix.
    """
    if model is not None:
        return np.asarray(model.user_factors_, dtype=np.float64)
    svd = TruncatedSVD(n_components=n_components, random_state=random_state)
    return svd.fit_transform(mean_centered(X))


def taste_vectors(X) -> sp.csr_matrix:
    """What users are clustered and classified on: mean-centred ratings (seed 000) scaled to
    unit length. Without the scaling, k-means on MovieLens puts most users in one cluster
    and heavy raters in clusters of one (seed 000's power-law sizes), which cluster fixing then
    dissolves into two clusters (docs/model-tuning.md); with it, clusters are of comparable
    size (the same choice as ``KMeansSoftmax(normalize=True)``).
    """
    return normalize(mean_centered(X))
