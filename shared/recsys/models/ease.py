"""EASE, the embarrassingly shallow autoencoder (Steck 2019): an items x items linear model in
closed form, for catalogues small enough to hold it."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from shared.recsys.blas import with_one_blas_thread
from shared.recsys.models.topn import (TopNRecommender, best, confidence, confidence_values,
                                       strongest)

# Users densified at once while the Gram matrix is accumulated: bounds that dense block.
_DENSE_ELEMENTS = 1 << 24
# How one user's k rows of B are summed (one thread): while k rows hold at most
# _GATHER_ELEMENTS weights, copied out and multiplied by BLAS (a sparse row's set-up costs more
# than the sum: 100 rows of 2,000 candidates, 250 of 750); above _DENSE_SHARE of the model's
# movies, a dense product reading all of B (the sparse sum costs as much at 0.6-0.7 n); in
# between, a sparse row times B.
_GATHER_ELEMENTS = 200_000
_DENSE_SHARE = 0.7
# The most-rated movies a fitted model recommends (docs/topn-tuning.md, "candidates").
MAX_CANDIDATES = 750


class EASE(TopNRecommender):
    r"""Each movie's score is a learned linear combination of the user's other movies.

    .. math::
        \hat B = \arg\min_B \lVert X - XB \rVert_F^2 + \lambda \lVert B \rVert_F^2
                 \quad \text{s.t. } \operatorname{diag}(B) = 0

    whose closed form (Steck 2019) is

    .. math::
        P = (X^\top X + \lambda I)^{-1}, \qquad
        \hat B = I - P \,\operatorname{diagMat}(1 / \operatorname{diag}(P)),
        \quad\text{i.e. } \hat B_{ij} = -P_{ij} / P_{jj},\ \hat B_{jj} = 0

    and the scores of user :math:`u` are :math:`s_u = x_u \hat B`. :math:`X` is the implicit
    feedback of :func:`shared.recsys.models.topn.confidence` (``scheme``). The zero diagonal
    keeps a movie from explaining itself, so the model has to learn from co-occurrence.
    Nothing is user-specific: a user's scores come from their current row alone, so
    ``predict_unseen`` (fold-in) costs one sparse row times :math:`\hat B`, and a new rating
    changes the list at once.

    The inverse of the Gram matrix is computed once (Cholesky, float32, LAPACK ``potrf`` and
    ``potri``); its cost is :math:`n^3` flops and :math:`4 n^2` bytes for :math:`n` movies,
    which caps the catalogue: ``max_items = 10_000`` needs 400 MB while it is computed. Above
    the cap only the ``max_items`` most-rated movies are kept as inputs. Of those, only the
    ``max_candidates`` most-rated are candidates: the model keeps :math:`\hat B`'s columns at
    them alone, :math:`4 n c` bytes for :math:`c` candidates, and a user's scores cost one
    :math:`c`-long row per rated movie. Every other movie (and any movie without a training
    rating) scores ``-inf``, so it is never recommended by this model.

    Parameters
    ----------
    l2 : float
        :math:`\lambda`, the L2 penalty on :math:`B`, in units of co-occurrences: larger
        values shrink the weights of pairs seen together by few users.
    scheme : {'binary', 'rating', 'liked', 'signed'}
        How ratings become the entries of :math:`X` (see ``confidence``).
    max_items : int
        Most movies whose ratings count (the most-rated ones); fitting needs :math:`4\,n^2`
        bytes.
    max_candidates : int
        Most movies the model recommends (the most-rated of the ``max_items``): the rarely
        rated ones seldom reach a top 10 (docs/topn-tuning.md), and each costs memory and time
        on every request.

    Attributes
    ----------
    items_ : ndarray (n_kept,), the movies whose ratings count, increasing
    candidates_ : ndarray (n_candidates,), the movies it recommends, increasing (of ``items_``)
    weights_ : ndarray (n_kept, n_candidates), float32, :math:`\hat B`'s rows at ``items_``
        and columns at ``candidates_``
    user_feedback_ : scipy.sparse.csr_matrix, the training :math:`X` (all movies)
    n_movies_ : int
    """

    def __init__(self, l2: float = 100.0, scheme: str = "signed", max_items: int = 2000,
                 max_candidates: int = MAX_CANDIDATES):
        self.l2 = l2
        self.scheme = scheme
        self.max_items = max_items
        self.max_candidates = max_candidates

    @with_one_blas_thread  # the same weights in every process, whatever its BLAS threads
    def fit(self, X, y=None):
        if self.l2 <= 0:
            raise ValueError(f"l2 must be positive, got {self.l2}")
        for name in ("max_items", "max_candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        C = confidence(X, self.scheme)
        counts = np.bincount(C.indices, minlength=C.shape[1])
        rated = np.flatnonzero(counts)
        most_rated = rated[np.argsort(-counts[rated], kind="stable")]
        self.items_ = np.sort(most_rated[:self.max_items]).astype(np.int64)
        self.candidates_ = np.sort(most_rated[:min(self.max_items, self.max_candidates)]).astype(
            np.int64)
        self.n_movies_ = int(C.shape[1])
        self.user_feedback_ = C
        gram = _gram(C[:, self.items_].astype(np.float32))
        gram[np.diag_indices_from(gram)] += np.float32(self.l2)
        P = _spd_inverse(gram)
        P /= -np.diag(P)[None, :]
        P[np.diag_indices_from(P)] = 0.0
        if len(self.candidates_) < len(self.items_):
            P = np.ascontiguousarray(P[:, np.searchsorted(self.items_, self.candidates_)])
        self.weights_ = P
        self._build_derived_state()
        return self

    def _build_derived_state(self) -> None:
        """``_position``: each movie's row in ``weights_``, -1 outside the model; ``_column``:
        its column, -1 if not a candidate (built by ``fit`` and by
        :func:`shared.recsys.persist.decode`)."""
        if not hasattr(self, "candidates_"):  # a version stored before max_candidates
            self.candidates_ = self.items_
        # int32, the index type of scipy's sparse matrices: a one-user row needs no cast
        self._position = np.full(self.n_movies_, -1, dtype=np.int32)
        self._position[self.items_] = np.arange(len(self.items_))
        self._column = np.full(self.n_movies_, -1, dtype=np.int32)
        self._column[self.candidates_] = np.arange(len(self.candidates_))

    def _scores(self, C: sp.csr_matrix) -> np.ndarray:
        out = np.full((C.shape[0], self.n_movies_), -np.inf, dtype=np.float32)
        position = self._position[C.indices]
        kept = position >= 0
        indptr = np.r_[0, np.cumsum(kept)][C.indptr]
        inputs = sp.csr_matrix((C.data[kept].astype(np.float32), position[kept], indptr),
                               shape=(C.shape[0], len(self.items_)))
        out[:, self.candidates_] = inputs @ self.weights_
        return out

    def score_users(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return self._scores(self.user_feedback_[users])

    def predict_unseen(self, X_new) -> np.ndarray:
        X_new = self._check_movies(X_new, self.n_movies_)
        return self._scores(confidence(X_new, self.scheme))

    def score_one(self, movies: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        r""":math:`x_u \hat B` for one user (:meth:`_kept_scores`); ``-inf`` outside the model."""
        positions = self._position[movies]
        kept = positions >= 0
        out = np.full(self.n_movies_, -np.inf, dtype=np.float32)
        out[self.candidates_] = self._kept_scores(positions[kept], self._feedback(ratings, kept))
        return out

    def top_one(self, movies: np.ndarray, ratings: np.ndarray, excluded: np.ndarray,
                n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ranks the candidates only (every other movie scores ``-inf``); the explanation
        reads the rows of the weights the scores summed, at the ``n`` movies only."""
        positions = self._position[movies]
        kept = np.flatnonzero(positions >= 0)
        rows, feedback = positions[kept], self._feedback(ratings, kept)
        scores = self._kept_scores(rows, feedback)
        masked = self._column[excluded]
        scores[masked[masked >= 0]] = -np.inf
        top = best(scores, n)
        because = strongest((self.weights_[rows[:, None], top] * feedback[:, None]).T)
        return self.candidates_[top], scores[top], np.where(because >= 0, kept[because], -1)

    def _feedback(self, ratings, kept) -> np.ndarray:
        """The implicit feedback of the ``kept`` of ``ratings``, in the weights' float32."""
        return confidence_values(np.asarray(ratings)[kept], self.scheme).astype(np.float32)

    def _kept_scores(self, rows: np.ndarray, feedback: np.ndarray) -> np.ndarray:
        r""":math:`x_u \hat B` over ``candidates_`` for one user, whose ``feedback`` sits at ``rows``
        of :math:`\hat B`: the weighted sum of those rows, computed the cheapest way for their
        number (``_GATHER_ELEMENTS``, ``_DENSE_SHARE``)."""
        n_kept = len(self.items_)
        if len(rows) * len(self.candidates_) <= _GATHER_ELEMENTS:
            return feedback @ self.weights_[rows]
        if len(rows) > _DENSE_SHARE * n_kept:
            dense = np.zeros(n_kept, dtype=np.float32)
            dense[rows] = feedback
            return dense @ self.weights_
        row = sp.csr_matrix((feedback, rows, np.array([0, len(rows)], dtype=np.int32)),
                            shape=(1, n_kept))
        return np.ravel(row @ self.weights_)

    def contributions(self, movies: np.ndarray, ratings: np.ndarray, items) -> np.ndarray:
        r"""Rated movie :math:`j` adds :math:`x_{uj} \hat B_{ji}` to :math:`s_{ui}`; nothing
        where :math:`j` is outside the model or :math:`i` is not a candidate."""
        feedback = confidence_values(ratings, self.scheme)
        rows = self._position[np.asarray(movies, dtype=np.int64)]
        cols = self._column[np.asarray(items, dtype=np.int64)]
        out = np.zeros((len(cols), len(rows)))
        kept_rows, kept_cols = np.flatnonzero(rows >= 0), np.flatnonzero(cols >= 0)
        block = self.weights_[np.ix_(rows[kept_rows], cols[kept_cols])].T  # items x rated
        out[np.ix_(kept_cols, kept_rows)] = block * feedback[kept_rows]
        return out


def _gram(X: sp.csr_matrix) -> np.ndarray:
    """:math:`X^\\top X` as a dense matrix of ``X``'s dtype, a block of users at a time."""
    n_users, n_items = X.shape
    gram = np.zeros((n_items, n_items), dtype=X.dtype)
    block = max(1, _DENSE_ELEMENTS // max(n_items, 1))
    for lo in range(0, n_users, block):
        part = X[lo:lo + block]
        gram += (part.T @ part.toarray())
    return gram


def _spd_inverse(A: np.ndarray) -> np.ndarray:
    """The inverse of the symmetric positive definite ``A``, computed in ``A``'s memory."""
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (A,))
    # A is symmetric, so its transpose (Fortran-ordered) is A itself and LAPACK works in place.
    factor, info = potrf(A.T, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"Gram matrix is not positive definite (potrf info {info})")
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Gram matrix inverse failed (potri info {info})")
    n = inverse.shape[0]
    block = max(1, _DENSE_ELEMENTS // max(n, 1))
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        # potri fills the upper triangle: mirror it, one block of rows at a time
        inverse[lo:hi, :lo] = inverse[:lo, lo:hi].T
        square = inverse[lo:hi, lo:hi]
        square[np.tril_indices(hi - lo, -1)] = square.T[np.tril_indices(hi - lo, -1)]
    # symmetric now, so the transpose of a Fortran-ordered result is the same matrix in C order
    return inverse if inverse.flags.c_contiguous else inverse.T
