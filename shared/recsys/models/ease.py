"""EASE, the embarrassingly shallow autoencoder (Steck 2019): an items x items linear model in
closed form, for catalogues small enough to hold it."""
from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs
from scipy.linalg import lapack

from shared.recsys.blas import with_one_blas_thread
from shared.recsys.models.topn import (
    TopNRecommender,
    best,
    confidence,
    confidence_values,
    strongest,
)

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


# The share of the newest ratings that does not move the time ages are counted from
# (:func:`reference_time`).
NEWEST_SHARE = 0.001

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
    half_life : float or None
        With the ratings' times (``fit(X, times=...)``), each rating (entry of :math:`X`)
        counts :math:`0.5^{a / h}` in the Gram matrix, :math:`a` its age in days at the newest
        ratings (:func:`reference_time`: a few far newer than the rest move nothing) and
        :math:`h` the half-life: the weights learn what people rate together
        lately, and a user is still scored from all of their ratings. None (or no times):
        every rating counts alike. On ml-latest-small, chosen on a temporal validation split,
        it lifts nDCG@10 on the latest fifth of the ratings by a half, and costs new users
        whose ratings are old a third (docs/topn-benchmark.md): it is chosen on a temporal
        validation split only.

    popularity_exponent : float
        :math:`\alpha`: candidate :math:`i`'s column of :math:`\hat B` is divided by
        :math:`n_i^{\alpha}`, :math:`n_i` its number of ratings, so a movie is ranked by its
        score over its popularity to that power; 0 ranks by the score. Zero cost on requests
        (the weights are scaled once), and chosen without fitting again
        (:meth:`refitted`). On ml-latest-small 0.1, chosen on every validation split, lifts
        nDCG@10 on each protocol (docs/topn-benchmark.md).

    Attributes
    ----------
    items_ : ndarray (n_kept,), the movies whose ratings count, increasing
    candidates_ : ndarray (n_candidates,), the movies it recommends, increasing (of ``items_``)
    weights_ : ndarray (n_kept, n_candidates), float32, :math:`\hat B`'s rows at ``items_``
        and columns at ``candidates_``
    item_counts_ : ndarray (n_movies,), each movie's number of training ratings
    user_feedback_ : scipy.sparse.csr_matrix, the training :math:`X` (all movies); a model
        fitted from a Gram matrix computed elsewhere (:meth:`fit_gram`) or stored as a
        version (:func:`shared.recsys.models.base.without_training_rows`) has none
    n_movies_ : int
    """

    training_rows = ("user_feedback_",)

    # hyper-parameters a fitted model can change without fitting again (:meth:`refitted`)
    refit_free = ("l2", "popularity_exponent")

    def __init__(self, l2: float = 100.0, scheme: str = "signed", max_items: int = 2000,
                 max_candidates: int = MAX_CANDIDATES, half_life: float | None = None,
                 popularity_exponent: float = 0.0):
        self.l2 = l2
        self.scheme = scheme
        self.max_items = max_items
        self.max_candidates = max_candidates
        self.half_life = half_life
        self.popularity_exponent = popularity_exponent

    @with_one_blas_thread  # the same weights in every process, whatever its BLAS threads
    def fit(self, X, y=None, times=None):
        """``times``: each rating's time in seconds (the same entries as ``X``), read with a
        ``half_life``."""
        if self.l2 <= 0:
            raise ValueError(f"l2 must be positive, got {self.l2}")
        if self.half_life is not None and self.half_life <= 0:
            raise ValueError(f"half_life must be positive days or None, got {self.half_life}")
        for name in ("max_items", "max_candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        C = confidence(X, self.scheme)
        counts = np.bincount(C.indices, minlength=C.shape[1])
        self.choose_items(counts)
        self.user_feedback_ = C
        learned = C if self.half_life is None or times is None else _by_age(C, times,
                                                                           self.half_life)
        return self.fit_gram(gram_matrix(learned[:, self.items_].astype(np.float32)))

    def choose_items(self, counts: np.ndarray) -> EASE:
        """Keep the most-rated of the movies rated ``counts`` times each: ``items_`` (the
        inputs) and ``candidates_``. The first half of a fit, which an engine that computes
        the Gram matrix elsewhere (on Spark) calls before :meth:`fit_gram`."""
        counts = np.asarray(counts, dtype=np.int64)
        rated = np.flatnonzero(counts)
        most_rated = rated[np.argsort(-counts[rated], kind="stable")]
        self.items_ = np.sort(most_rated[:self.max_items]).astype(np.int64)
        self.candidates_ = np.sort(most_rated[:min(self.max_items, self.max_candidates)]).astype(
            np.int64)
        self.n_movies_ = int(len(counts))
        self.item_counts_ = counts
        return self

    @with_one_blas_thread
    def fit_gram(self, gram: np.ndarray) -> EASE:
        """The weights from ``gram``, :math:`X^\top X` at ``items_`` (float32, overwritten),
        :math:`X` weighted by age when a ``half_life`` is set. The second half of a fit. A copy
        of ``gram`` is kept in the process, never in a version, so that :meth:`refitted` can
        change ``l2`` without computing it again."""
        self._gram = gram.copy()
        gram[np.diag_indices_from(gram)] += np.float32(self.l2)
        P = _spd_inverse(gram)
        P /= -np.diag(P)[None, :]
        P[np.diag_indices_from(P)] = 0.0
        if len(self.candidates_) < len(self.items_):
            P = np.ascontiguousarray(P[:, np.searchsorted(self.items_, self.candidates_)])
        if self.popularity_exponent:
            P *= (self.item_counts_[self.candidates_].astype(np.float32)
                  ** np.float32(-self.popularity_exponent))[None, :]
        self.weights_ = P
        self._build_derived_state()
        return self

    def refitted(self, **params) -> EASE:
        """A copy of this fitted model with the ``params`` of :attr:`refit_free` changed, the
        model a fit with them gives: a new ``l2`` inverts the Gram matrix of this fit again
        (which a loaded version does not have), a new ``popularity_exponent`` alone rescales
        the weights."""
        other = copy.copy(self).set_params(**params)
        if other.l2 != self.l2:
            if getattr(self, "_gram", None) is None:
                raise ValueError("l2 changes only on a model fitted in this process: a loaded "
                                 "version keeps no Gram matrix")
            return other.fit_gram(self._gram.copy())
        counts = self.item_counts_
        change = other.popularity_exponent - self.popularity_exponent
        other.weights_ = self.weights_ * (counts[self.candidates_].astype(np.float32)
                                          ** np.float32(-change))[None, :]
        other._build_derived_state()
        return other

    def _build_derived_state(self) -> None:
        """What a request reads (built by ``fit`` and by :func:`shared.recsys.persist.decode`):

        - ``_rows``: ``weights_`` and a row of zeros after them, which every movie outside the
          model's inputs reads, so that a user's movies need no filtering (``weights_`` is a
          view of it);
        - ``_position``: each movie's row in ``_rows``, the zero row outside the inputs; one
          more entry at the end, the zero row too, for the index -1;
        - ``_column``: each movie's column, -1 if not a candidate (and at the index -1)."""
        if not hasattr(self, "candidates_"):  # a version stored before max_candidates
            self.candidates_ = self.items_
        n_kept = len(self.items_)
        rows = np.zeros((n_kept + 1, self.weights_.shape[1]), dtype=np.float32)
        rows[:n_kept] = self.weights_
        self._rows, self.weights_ = rows, rows[:n_kept]
        # int32, the index type of scipy's sparse matrices: a one-user row needs no cast
        self._position = np.full(self.n_movies_ + 1, n_kept, dtype=np.int32)
        self._position[self.items_] = np.arange(n_kept)
        self._column = np.full(self.n_movies_ + 1, -1, dtype=np.int32)
        self._column[self.candidates_] = np.arange(len(self.candidates_))

    def _scores(self, C: sp.csr_matrix) -> np.ndarray:
        out = np.full((C.shape[0], self.n_movies_), -np.inf, dtype=np.float32)
        out[:, self.candidates_] = self._candidate_scores(C)
        return out

    def _candidate_scores(self, C: sp.csr_matrix) -> np.ndarray:
        position = self._position[C.indices]
        kept = position < len(self.items_)
        indptr = np.r_[0, np.cumsum(kept)][C.indptr]
        inputs = sp.csr_matrix((C.data[kept].astype(np.float32), position[kept], indptr),
                               shape=(C.shape[0], len(self.items_)))
        return inputs @ self.weights_

    def score_users(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return self._scores(self.user_feedback_[users])

    def candidate_scores(self, users) -> np.ndarray:
        """:meth:`score_users` at ``candidates_`` only: (users x candidates), float32."""
        return self._candidate_scores(self.user_feedback_[np.asarray(users, dtype=np.int64)])

    def scores_of(self, C: sp.csr_matrix) -> np.ndarray:
        """:meth:`score_users` of users whose implicit feedback is ``C`` (as in
        :meth:`candidate_scores_of`)."""
        return self._scores(sp.csr_matrix(C))

    def candidate_scores_of(self, C: sp.csr_matrix) -> np.ndarray:
        """:meth:`candidate_scores` of users whose implicit feedback (:func:`confidence` of
        their ratings, every movie) is ``C``, training users or not."""
        return self._candidate_scores(sp.csr_matrix(C))

    def predict_unseen(self, X_new) -> np.ndarray:
        X_new = self._check_movies(X_new, self.n_movies_)
        return self._scores(confidence(X_new, self.scheme))

    def score_one(self, movies: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        r""":math:`x_u \hat B` for one user (:meth:`_kept_scores`); ``-inf`` outside the model."""
        out = np.full(self.n_movies_, -np.inf, dtype=np.float32)
        out[self.candidates_] = self._kept_scores(self._position[movies],
                                                  self._feedback(ratings))[0]
        return out

    def top_one(self, movies: np.ndarray, ratings: np.ndarray, excluded: np.ndarray,
                n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ranks the candidates only (every other movie scores ``-inf``); the explanation
        reads the rows of the weights the scores summed, at the ``n`` movies only, and
        credits the movies of positive feedback only (as iALS does)."""
        rows, feedback = self._position[movies], self._feedback(ratings)
        scores, summed = self._kept_scores(rows, feedback)
        masked = self._column[excluded]
        scores[masked[masked >= 0]] = -np.inf
        top = best(scores, n)
        weights = summed[:, top] if summed is not None else self._rows[rows[:, None], top]
        # as in iALS, a negative signal explains nothing ("because you rated it 1 star")
        liked = np.maximum(feedback, 0.0)
        return self.candidates_[top], scores[top], strongest((weights * liked[:, None]).T)

    def can_rank(self, movies: np.ndarray, ratings: np.ndarray) -> bool:
        """Only the rows of ``items_`` are inputs: a user who rated none of them scores 0
        everywhere."""
        return bool(((self._position[movies] < len(self.items_)) & (ratings > 0)).any())

    def _feedback(self, ratings) -> np.ndarray:
        """The implicit feedback of ``ratings`` (0: none, a movie only favoured), in the
        weights' float32."""
        ratings = np.asarray(ratings, dtype=np.float64)
        return np.where(ratings > 0, confidence_values(ratings, self.scheme), 0.0).astype(
            np.float32)

    def _kept_scores(self, rows: np.ndarray, feedback: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray | None]:
        r""":math:`x_u \hat B` over ``candidates_`` for one user, whose ``feedback`` sits at
        ``rows`` of ``_rows``: the weighted sum of those rows, computed the cheapest way for
        their number (``_GATHER_ELEMENTS``, ``_DENSE_SHARE``); and the rows summed when they
        were copied out (else None), which the explanation reads again."""
        n_rows = len(self._rows)
        if len(rows) * len(self.candidates_) <= _GATHER_ELEMENTS:
            summed = self._rows.take(rows, axis=0)
            return feedback @ summed, summed
        if len(rows) > _DENSE_SHARE * n_rows:
            dense = np.zeros(n_rows, dtype=np.float32)
            dense[rows] = feedback  # (the zero row may be written more than once: it adds 0)
            return dense @ self._rows, None
        row = sp.csr_matrix((feedback, rows, np.array([0, len(rows)], dtype=np.int32)),
                            shape=(1, n_rows))
        return np.ravel(row @ self._rows), None

    def contributions(self, movies: np.ndarray, ratings: np.ndarray, items) -> np.ndarray:
        r"""Rated movie :math:`j` adds :math:`x_{uj} \hat B_{ji}` to :math:`s_{ui}`; nothing
        where :math:`j` is outside the model or :math:`i` is not a candidate."""
        feedback = self._feedback(ratings)
        rows = self._position[np.asarray(movies, dtype=np.int64)]
        cols = self._column[np.asarray(items, dtype=np.int64)]
        out = np.zeros((len(cols), len(rows)))
        kept_rows = np.flatnonzero(rows < len(self.items_))
        kept_cols = np.flatnonzero(cols >= 0)
        block = self.weights_[np.ix_(rows[kept_rows], cols[kept_cols])].T  # items x rated
        out[np.ix_(kept_cols, kept_rows)] = block * feedback[kept_rows]
        return out


def _by_age(C: sp.csr_matrix, times, half_life: float) -> sp.csr_matrix:
    """``C`` with each entry weighted by :func:`age_weights` of its time in ``times`` (the
    same entries)."""
    times = sp.csr_matrix(times, dtype=np.float64)
    times.sort_indices()
    if times.shape != C.shape or not np.array_equal(times.indices, C.indices) \
            or not np.array_equal(times.indptr, C.indptr):
        raise ValueError("times must have the entries of X")
    weights = age_weights(times.data, reference_time(times.data), half_life)
    return sp.csr_matrix((C.data * weights, C.indices, C.indptr), shape=C.shape)


def age_weights(times: np.ndarray, newest: float, half_life: float) -> np.ndarray:
    """:math:`0.5^{a / h}` of each rating, :math:`a` the days from its time (seconds) to
    ``newest`` (none for a later one) and :math:`h` the ``half_life`` in days."""
    age_days = np.maximum(newest - np.asarray(times, dtype=np.float64), 0.0) / 86400.0
    return 0.5 ** (age_days / half_life)


def newest_rank(n_ratings: int) -> int:
    """Which newest rating ages are counted from (1: the newest): :data:`NEWEST_SHARE` of
    ``n_ratings`` pass over."""
    return int(n_ratings * NEWEST_SHARE) + 1


def reference_time(newest: np.ndarray, n_ratings: int | None = None) -> float:
    """The time ages are counted from: that of the :func:`newest_rank`-th newest of
    ``n_ratings`` ratings, given the times of their newest (all, or at least that many; the
    whole of ``newest`` by default). Counted from the very newest, one live rating after an
    import of years-old ratings aged all of those by years and shrank the Gram matrix by
    orders of magnitude against a fixed ``l2``: the lists fell to a popularity list's."""
    newest = np.asarray(newest, dtype=np.float64)
    if not len(newest):
        return 0.0
    k = min(newest_rank(len(newest) if n_ratings is None else n_ratings), len(newest))
    return float(np.partition(newest, len(newest) - k)[len(newest) - k])


def gram_matrix(X: sp.csr_matrix, n_jobs: int = 1) -> np.ndarray:
    """:math:`X^\\top X` as a dense matrix of ``X``'s dtype, a block of users at a time;
    ``n_jobs`` threads (-1: one per core) each fill a run of its columns (every entry is
    summed in the same order whatever their number)."""
    n_users, n_items = X.shape
    gram = np.zeros((n_items, n_items), dtype=X.dtype)
    runs = [run for run in np.array_split(np.arange(n_items), effective_n_jobs(n_jobs))
            if len(run)]
    block = max(1, _DENSE_ELEMENTS * len(runs) // max(n_items, 1))

    def fill(columns: np.ndarray) -> None:
        cols = slice(columns[0], columns[-1] + 1)
        for lo in range(0, n_users, block):
            part = X[lo:lo + block]
            gram[:, cols] += part.T @ part[:, cols].toarray()

    Parallel(n_jobs=len(runs), prefer="threads")(delayed(fill)(run) for run in runs)
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
