"""Item-item neighbourhood prediction on baseline residuals (seed 004's item-item filtering, done
as Koren's and Surprise's KNNBaseline do it)."""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import clone

from shared.recsys.blas import one_blas_thread
from shared.recsys.models.base import RatingPredictor, as_ratings
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.ratings import RATING_MAX, RATING_MIN

SIMILARITIES = ("cosine", "pearson_baseline")
# Bound on the elements of one dense block of similarities or one batch of candidate entries.
_BLOCK_ELEMENTS = 1 << 22
# A user whose ratings are candidate neighbours more often than this share of all kept
# similarities is scored by a pass over the ranked similarities, not by sorting candidates:
# the share at which the two cost the same (docs/model-tuning.md).
_RANKED_SHARE = 0.1
# Largest users x movies residual matrix densified to compute similarities with BLAS.
_DENSE_ELEMENTS = 1 << 24
# Most co-rated pairs, as a share of a block of similarities, that are ranked as pairs
# rather than in the dense block (sorting pairs costs more per entry than a dense pass).
_SPARSE_SHARE = 0.1


class ItemKNN(RatingPredictor):
    r"""Baseline plus the similarity-weighted residuals of the user's most similar rated movies.

    .. math::
        \hat r_{ui} = b_{ui} + \frac{\sum_{j \in N^k_i(u)} s_{ij}\,(r_{uj} - b_{uj})}
                                    {\delta + \sum_{j \in N^k_i(u)} s_{ij}},
        \qquad b_{ui} = \mu + b_u + b_i

    where :math:`b` is a fitted :class:`BaselinePredictor` and :math:`N^k_i(u)` holds the ``k``
    movies rated by :math:`u` that are most similar to :math:`i`, among the ``max_neighbors``
    kept for :math:`i` and with :math:`s_{ij} > 0` (negative neighbours make predictions worse,
    as in Surprise). With fewer than ``min_k`` of them the prediction is :math:`b_{ui}`.
    :math:`\delta` (``damping``) pulls a prediction resting on a few weak similarities back to
    the baseline (Koren 2010); with :math:`\delta = 0` this is Surprise's KNNBaseline.

    The similarity of movies :math:`i, j` is a cosine of baseline residuals
    :math:`e_{ui} = r_{ui} - b_{ui}` shrunk by the number :math:`n_{ij}` of users who rated both:

    .. math::
        s_{ij} = \frac{n_{ij}}{n_{ij} + \lambda}\,
                 \frac{\sum_{u \in U_{ij}} e_{ui} e_{uj}}{\sqrt{\sum_{u \in A_i} e_{ui}^2}
                                                           \sqrt{\sum_{u \in A_j} e_{uj}^2}}

    With ``similarity='cosine'`` :math:`A_i` is every user who rated :math:`i` (a missing
    rating counts as a zero residual), with ``'pearson_baseline'`` both sums run over the
    co-raters :math:`U_{ij}` only (Surprise's pearson_baseline). The first measures better on
    MovieLens: a pair with few co-raters gets a small similarity instead of a noisy one.

    Similarities come from the products ``E^T E`` and ``M^T M`` (``M`` the rated pattern), a
    block of movies at a time (dense float32 BLAS when users x movies is small, sparse products
    otherwise); each movie keeps only its ``max_neighbors`` most similar positive neighbours,
    stored as the sparse movies x movies ``similarity_`` (row ``i`` holds :math:`i`'s
    neighbours), so memory is ``O(n_movies * max_neighbors)``, not ``n_movies^2``.
    Movies with fewer than ``min_item_ratings`` training ratings neither have nor serve as
    neighbours: their predictions are the baseline's.

    ``score_users`` and ``predict_unseen`` return unclipped scores (for ranking);
    ``predict`` clips to 0.5..5. With Surprise's KNNBaseline settings
    (``similarity='pearson_baseline'``, ``damping=0``, ``min_item_ratings=1``, every neighbour
    kept) it measures as Surprise does; the defaults measure better
    (docs/accuracy-benchmark.md, docs/model-tuning.md).

    Parameters
    ----------
    k : int
        Most neighbours per prediction.
    min_k : int
        Fewest neighbours for a neighbourhood prediction; below it, the baseline alone.
    shrinkage : float
        :math:`\lambda`, in co-raters: a similarity resting on :math:`\lambda` co-raters is halved.
    damping : float
        :math:`\delta`, added to the sum of the similarities in the denominator.
    max_neighbors : int
        Neighbours kept per movie after ``fit``; more is slightly more accurate and larger.
    min_item_ratings : int
        Fewest training ratings a movie needs to have or be a neighbour.
    similarity : {'cosine', 'pearson_baseline'}
        Which residual cosine, as above.
    baseline : BaselinePredictor or None
        The :math:`b_{ui}` estimator, cloned and fitted in ``fit`` (``None``: default one).
    n_jobs : int
        Threads computing blocks of similarities in ``fit`` (-1: one per core). The sparse
        products and the selections release the GIL; the result does not depend on it.

    Attributes
    ----------
    baseline_ : the fitted baseline
    similarity_ : scipy.sparse.csr_matrix (n_movies, n_movies), float32
    user_residuals_ : scipy.sparse.csr_matrix, the training residuals :math:`e_{ui}`, which
        ``predict`` and ``score_users`` of fitted users read (none in a stored version:
        :func:`shared.recsys.models.base.without_training_rows`)
    """

    training_rows = ("user_residuals_",)

    def __init__(self, k: int = 40, min_k: int = 1, shrinkage: float = 100.0,
                 damping: float = 0.03, max_neighbors: int = 400, min_item_ratings: int = 2,
                 similarity: str = "cosine", baseline=None, n_jobs: int = -1):
        self.k = k
        self.min_k = min_k
        self.shrinkage = shrinkage
        self.damping = damping
        self.max_neighbors = max_neighbors
        self.min_item_ratings = min_item_ratings
        self.similarity = similarity
        self.baseline = baseline
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        X = as_ratings(X)
        self.baseline_ = clone(self.baseline if self.baseline is not None
                               else BaselinePredictor()).fit(X)
        self.user_residuals_ = self._residuals(X, self.baseline_.user_bias_)
        self.similarity_ = self._similarities(self.user_residuals_)
        self._build_derived_state()
        return self

    def _build_derived_state(self) -> None:
        """The scoring structures read off ``similarity_``, built by ``fit`` and by
        :func:`shared.recsys.persist.decode` on load, never stored (each is another copy of
        ``similarity_``), so scoring only reads the estimator.

        ``_similarity_by_column`` is ``similarity_`` as CSC (column ``j``: the movies that keep
        ``j``). ``_ranked_*`` are ``similarity_``'s rows with each row's neighbours in
        decreasing similarity (ties: lower movie first, the order ``_combine`` breaks them in),
        12 bytes an entry: the indices are intp because ``np.take`` would convert int32 ones on
        every call."""
        S = self.similarity_
        self._similarity_by_column = S.tocsc()
        rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
        # Kept similarities lie in (0, 1], so row r's keys 2r - s lie in [2r - 1, 2r): one
        # stable sort orders by row, then by decreasing similarity, then (rows are stored by
        # increasing index) by lower movie.
        order = np.argsort(rows * 2.0 - S.data, kind="stable")
        self._ranked_indptr = S.indptr.astype(np.intp)
        self._ranked_neighbours = S.indices[order].astype(np.intp)
        self._ranked_similarities = S.data[order]

    def _user_adjustments(self, rated: np.ndarray, resid: np.ndarray) -> np.ndarray:
        """Neighbourhood terms of every movie for one user who rated ``rated`` with residuals
        ``resid``, read off the ranked rows: a movie's first ``k`` rated neighbours there are
        its ``k`` most similar. One pass over the similarities whatever the user's number of
        ratings, where ``_adjustments`` sorts ratings x neighbours candidates: it is the
        faster way for users with many ratings."""
        indptr, neighbours = self._ranked_indptr, self._ranked_neighbours
        sims = self._ranked_similarities
        n_items = len(indptr) - 1
        is_rated = np.zeros(n_items, dtype=np.uint8)
        is_rated[rated] = 1
        # take on bytes and intp indices, flatnonzero on bools: each several times faster
        hits = np.flatnonzero(np.take(is_rated, neighbours).view(bool))
        starts = np.searchsorted(hits, indptr)
        taken = np.minimum(np.diff(starts), self.k)
        owner = np.repeat(np.arange(n_items), taken)
        first = np.cumsum(taken) - taken
        chosen = hits[starts[:-1][owner] + np.arange(len(owner)) - first[owner]]
        residual = np.zeros(n_items)
        residual[rated] = resid
        weights = sims[chosen]
        # each movie's chosen neighbours are one run of ``chosen``: sum the runs
        some = taken > 0
        weighted, total = np.zeros(n_items), np.full(n_items, float(self.damping))
        if some.any():
            weighted[some] = np.add.reduceat(weights * residual[neighbours[chosen]], first[some])
            total[some] += np.add.reduceat(weights, first[some], dtype=np.float64)
        enough = (taken >= max(self.min_k, 1)) & (total > 0)
        return np.divide(weighted, total, out=np.zeros(n_items), where=enough)

    def _residuals(self, X: sp.csr_matrix, user_bias: np.ndarray) -> sp.csr_matrix:
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        b = self.baseline_
        data = X.data - b.global_mean_ - user_bias[rows] - b.item_bias_[X.indices]
        return sp.csr_matrix((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)

    def _similarities(self, E: sp.csr_matrix) -> sp.csr_matrix:
        active = self.active_items(np.bincount(E.indices, minlength=E.shape[1]))
        products = GramBlocks(E[:, active].tocsr(), self.similarity == "pearson_baseline")
        with one_blas_thread():  # the threads share the cores, not BLAS
            parts = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(self.chunk_neighbours)(products, products.norms, lo, hi)
                for lo, hi in self.item_chunks(len(active)))
        return self.similarity_from(parts, active, E.shape[1])

    def chunk_neighbours(self, products: GramBlocks, norms: np.ndarray, lo: int, hi: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`neighbours_of` active movies ``lo:hi``, from ``products`` (every user who
        rated one of them) and every active movie's ``norms``: from a dense block of their
        similarities against all, or, when few pairs were co-rated, from those pairs only
        (sorting them costs less than a pass over the whole block)."""
        rows, cols, sums = products.sums(lo, hi)
        if rows is None:
            return self.neighbours_of(lo, residual_cosines(sums, norms, lo, hi))
        sims = pair_cosines(sums, norms, lo + rows, cols)
        co_raters = sums["co_raters"]
        shrunk = co_raters + np.float32(self.shrinkage)
        sims *= np.divide(co_raters, shrunk, out=np.zeros_like(shrunk), where=shrunk > 0)
        kept = (sims > 0) & (cols != lo + rows)
        rows, cols, sims = rows[kept], cols[kept], sims[kept]
        order = np.lexsort((cols, -sims, rows))
        rows, cols, sims = rows[order], cols[order], sims[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
        top = rank < self._kept_per_movie(products.n_movies)
        return lo + rows[top], cols[top], sims[top]

    def active_items(self, counts: np.ndarray) -> np.ndarray:
        """The movies that have and serve as neighbours, from every movie's rating count."""
        return np.flatnonzero(counts >= max(self.min_item_ratings, 1))

    def item_chunks(self, n_active: int) -> list[tuple[int, int]]:
        """The runs of active movies whose similarities against all are computed together:
        none when no movie can have a neighbour."""
        if self._kept_per_movie(n_active) == 0:
            return []
        step = max(1, _BLOCK_ELEMENTS // max(n_active, 1))
        return [(lo, min(lo + step, n_active)) for lo in range(0, n_active, step)]

    def _kept_per_movie(self, n_active: int) -> int:
        return max(0, min(self.max_neighbors, n_active - 1))

    def neighbours_of(self, lo: int, cosines) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, columns, similarities), in active-movie numbers, of the kept neighbours of
        active movies ``lo ..``, from their residual cosines against every active movie and
        their co-rater counts (:func:`residual_cosines`): shrunk, the movie itself left out,
        the ``max_neighbors`` largest positive ones."""
        sims, co_raters = cosines
        n_rows, n_active = sims.shape
        keep = self._kept_per_movie(n_active)
        shrunk = co_raters + np.float32(self.shrinkage)
        sims *= np.divide(co_raters, shrunk, out=np.zeros_like(shrunk), where=shrunk > 0)
        sims[np.arange(n_rows), np.arange(lo, lo + n_rows)] = 0.0
        if keep < n_active:
            top = np.argpartition(-sims, keep - 1, axis=1)[:, :keep]
        else:
            top = np.broadcast_to(np.arange(n_active), sims.shape)
        top_sims = np.take_along_axis(sims, top, axis=1)
        positive = top_sims > 0
        return (np.broadcast_to(np.arange(lo, lo + n_rows)[:, None], top.shape)[positive],
                top[positive], top_sims[positive])

    @staticmethod
    def similarity_from(parts, active: np.ndarray, n_items: int) -> sp.csr_matrix:
        """``similarity_`` from every chunk's :meth:`neighbours_of`."""
        rows = active[np.concatenate([p[0] for p in parts])] if parts else np.zeros(0, np.int64)
        cols = active[np.concatenate([p[1] for p in parts])] if parts else np.zeros(0, np.int64)
        vals = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.float32)
        S = sp.csr_matrix((vals, (rows, cols)), shape=(n_items, n_items), dtype=np.float32)
        S.sort_indices()
        return S

    def _combine(self, group, sims, resids, n_groups) -> np.ndarray:
        """Per group, the damped weighted mean of the residuals of its ``k`` most similar
        candidates; 0 for groups under ``min_k``. Candidates arrive in increasing neighbour
        order within each group, and a stable sort keeps that order among equal similarities,
        so every caller breaks ties alike."""
        sims = np.asarray(sims, dtype=np.float32)
        sizes = np.bincount(group, minlength=n_groups)
        chosen = np.ones(len(group), dtype=bool)
        crowded = np.flatnonzero(sizes[group] > self.k)
        if len(crowded):
            # Positive float32 bit patterns sort like the floats: one integer key does
            # "by group, then by decreasing similarity".
            descending = np.uint64(0xFFFFFFFF) - sims[crowded].view(np.uint32).astype(np.uint64)
            key = (group[crowded].astype(np.uint64) << np.uint64(32)) | descending
            order = crowded[np.argsort(key, kind="stable")]
            sorted_groups = group[order]
            rank = np.arange(len(order)) - np.searchsorted(sorted_groups, sorted_groups)
            chosen[order[rank >= self.k]] = False
        group, resids = group[chosen], resids[chosen]
        sims = sims[chosen].astype(np.float64)
        weighted = np.bincount(group, sims * resids, minlength=n_groups)
        total = np.bincount(group, sims, minlength=n_groups) + self.damping
        enough = (np.bincount(group, minlength=n_groups) >= max(self.min_k, 1)) & (total > 0)
        return np.divide(weighted, total, out=np.zeros(n_groups), where=enough)

    def _adjustments(self, E: sp.csr_matrix) -> np.ndarray:
        """Neighbourhood terms of every movie for the users whose residual rows are ``E``:
        each rated movie ``j`` is a candidate neighbour of the movies that keep ``j``. Users
        with more candidates than ``_RANKED_SHARE`` of all similarities go one by one through
        ``_user_adjustments`` instead (same result, cheaper for them)."""
        S = self._similarity_by_column
        n_users, n_items = E.shape
        out = np.empty((n_users, n_items))
        per_rating = np.diff(S.indptr)[E.indices]
        candidates = np.bincount(np.repeat(np.arange(n_users), np.diff(E.indptr)), per_rating,
                                 minlength=n_users)
        ranked = candidates > _RANKED_SHARE * S.nnz
        for user in np.flatnonzero(ranked):
            lo, hi = E.indptr[user], E.indptr[user + 1]
            out[user] = self._user_adjustments(E.indices[lo:hi], E.data[lo:hi])
        rest = np.flatnonzero(~ranked)
        if len(rest) < n_users:
            E = E[rest]
        bounds = _batches(candidates[rest] + n_items, _BLOCK_ELEMENTS) if len(rest) else [0]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            start, stop = E.indptr[lo], E.indptr[hi]
            users = np.repeat(np.arange(hi - lo), np.diff(E.indptr[lo:hi + 1]))
            rated, resid = E.indices[start:stop], E.data[start:stop]
            owner, pos = _expand(S.indptr, rated)
            group = users[owner] * n_items + S.indices[pos]
            out[rest[lo:hi]] = self._combine(group, S.data[pos], resid[owner],
                                             (hi - lo) * n_items).reshape(hi - lo, n_items)
        return out

    def _pair_adjustments(self, E: sp.csr_matrix, users, items) -> np.ndarray:
        """Neighbourhood terms at the pairs ``(users[p], items[p])`` of the users whose
        residual rows are ``E``: each of ``items[p]``'s kept neighbours counts if ``users[p]``
        rated it. Batches of pairs go to ``n_jobs`` threads."""
        S = self.similarity_
        n_items = E.shape[1]
        keys = np.repeat(np.arange(E.shape[0], dtype=np.int64), np.diff(E.indptr)) * n_items \
            + E.indices
        out = np.empty(len(users))
        work = np.diff(S.indptr)[items] + 1
        bounds = _batches(work, _BLOCK_ELEMENTS)

        def batch(lo: int, hi: int) -> None:
            owner, pos = _expand(S.indptr, items[lo:hi])
            neighbour = S.indices[pos]
            wanted = users[lo:hi][owner] * n_items + neighbour
            at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
            rated = (keys[at] == wanted) if len(keys) else np.zeros(len(wanted), bool)
            out[lo:hi] = self._combine(owner[rated], S.data[pos[rated]], E.data[at[rated]],
                                       hi - lo)

        pairs = list(zip(bounds[:-1], bounds[1:]))
        if len(pairs) == 1 or self.n_jobs == 1:
            for lo, hi in pairs:
                batch(lo, hi)
        else:
            Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(batch)(lo, hi) for lo, hi in pairs)
        return out

    def score_users(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return self.baseline_.score_users(users) + self._adjustments(self.user_residuals_[users])

    def predict(self, users, items) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        if len(users) and users.max() >= self.user_residuals_.shape[0]:
            raise IndexError(f"user {users.max()} has no training residuals here (a version "
                             "fitted on Spark keeps none): use predict_unseen_at")
        b = self.baseline_
        pred = b.global_mean_ + b.user_bias_[users] + b.item_bias_[items]
        pred += self._pair_adjustments(self.user_residuals_, users, items)
        return np.clip(pred, RATING_MIN, RATING_MAX)

    def predict_unseen(self, X_new) -> np.ndarray:
        X_new = as_ratings(X_new)
        if X_new.shape[1] != self.similarity_.shape[1]:
            raise ValueError(f"X_new has {X_new.shape[1]} movies, the model "
                             f"{self.similarity_.shape[1]}")
        user_bias = self.baseline_.user_bias_for(X_new)
        b = self.baseline_
        scores = b.global_mean_ + user_bias[:, None] + b.item_bias_[None, :]
        return scores + self._adjustments(self._residuals(X_new, user_bias))

    def predict_unseen_at(self, X_new, rows, items) -> np.ndarray:
        X_new = as_ratings(X_new)
        rows = np.asarray(rows, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        user_bias = self.baseline_.user_bias_for(X_new)
        b = self.baseline_
        pred = b.global_mean_ + user_bias[rows] + b.item_bias_[items]
        pred += self._pair_adjustments(self._residuals(X_new, user_bias), rows, items)
        return np.clip(pred, RATING_MIN, RATING_MAX)


class GramBlocks:
    r"""Blocks of the movie x movie residual cosines and co-rater counts of ``E`` (users x
    movies), from dense float32 BLAS products when ``E`` is small enough to densify (it is
    then users x kept movies), else from sparse products.

    The sparse residual products and co-rater counts come from one product, because a sparse
    product's cost is in its indices, not its arithmetic (complex values cost what real ones
    do): each rating is ``e + i`` on the left and ``e - iK`` on the right, so the real part of
    the product of movies ``i, j`` is :math:`\sum_{u \in U_{ij}} e_{ui} e_{uj} + K n_{ij}`.
    ``K`` is a power of two over twice the largest movie norm squared, which bounds the
    residual sum (Cauchy-Schwarz): the count is that real part over ``K``, rounded, and the
    residual sum what remains, off by the rounding of sums near ``K n``: at most 0.002 at
    25 M ratings, where the residual sums reach tens of thousands."""

    def __init__(self, E: sp.csr_matrix, over_co_raters: bool):
        self.over_co_raters = over_co_raters
        self.n_movies = E.shape[1]
        E = sp.csr_matrix(E)
        E.sum_duplicates()
        self.norms = np.sqrt(np.bincount(E.indices, E.data ** 2, minlength=self.n_movies)
                             ).astype(np.float32)
        self.dense = E.shape[0] * E.shape[1] <= _DENSE_ELEMENTS
        # the patterns share E's (and E_t's) index arrays: each costs only its values
        pattern = _with_data(E, np.ones_like(E.data))
        squares = _with_data(E, E.data ** 2) if over_co_raters else None
        self.E: Any
        self.pattern: Any
        self.squares: Any
        if self.dense:
            self.E, self.pattern, self.squares = (
                None if m is None else m.toarray().astype(np.float32)
                for m in (E, pattern, squares))
            return
        largest = float(np.max(self.norms.astype(np.float64) ** 2, initial=0.0))
        self.count_scale = 2.0 ** np.ceil(np.log2(2 * largest + 1))
        E_t = E.T.tocsr()
        self.tagged_t = _with_data(E_t, E_t.data + 1j)
        self.tagged = _with_data(E, E.data - 1j * self.count_scale)
        if over_co_raters:
            self.pattern, self.squares = pattern, squares
            self.pattern_t = _with_data(E_t, np.ones_like(E_t.data))
            self.squares_t = _with_data(E_t, E_t.data ** 2)

    def _product(self, left: str, right: str, lo: int, hi: int) -> np.ndarray:
        """``left[:, lo:hi].T @ right`` as a dense float32 block (of the dense matrices)."""
        return getattr(self, left)[:, lo:hi].T @ getattr(self, right)

    def _named_products(self) -> dict[str, tuple[str, str]]:
        named = {"dots": ("E", "E"), "co_raters": ("pattern", "pattern")}
        if self.over_co_raters:
            named.update(left_squares=("squares", "pattern"), right_squares=("pattern", "squares"))
        return named

    def sums(self, lo: int, hi: int):
        """The sums over users the similarities of movies ``lo:hi`` against all are made of
        (:func:`residual_cosines`): residual products, co-rater counts and, over co-raters,
        the squares of each side on the other's pattern. ``(None, None, {name: block})`` as
        dense blocks, or ``(rows, columns, {name: values})`` at the co-rated pairs only (rows
        counted from ``lo``) when the blocks are sparse and those pairs fill at most
        ``_SPARSE_SHARE`` of them."""
        if self.dense:
            return None, None, {name: self._product(left, right, lo, hi)
                                for name, (left, right) in self._named_products().items()}
        product = self.tagged_t[lo:hi] @ self.tagged
        if self.over_co_raters:
            product.sort_indices()  # for the squares' positions below
        total = product.data.real
        co_raters = np.rint(total / self.count_scale)
        out = {"dots": (total - self.count_scale * co_raters).astype(np.float32),
               "co_raters": co_raters.astype(np.float32)}
        del total, co_raters
        at_pairs = product.nnz <= _SPARSE_SHARE * (hi - lo) * self.n_movies
        if at_pairs or self.over_co_raters:
            rows = np.repeat(np.arange(hi - lo), np.diff(product.indptr))
            cols = product.indices.astype(np.int64)
        if self.over_co_raters:
            keys = rows.astype(np.int64) * self.n_movies + cols
            for name, left, right in (("left_squares", "squares", "pattern"),
                                      ("right_squares", "pattern", "squares")):
                part = (getattr(self, left + "_t")[lo:hi] @ getattr(self, right)).tocoo()
                values = np.zeros(len(keys), dtype=np.float32)
                # a product's pattern is within the co-raters' (sparse products drop zeros)
                values[np.searchsorted(keys, part.row.astype(np.int64) * self.n_movies
                                       + part.col)] = part.data
                out[name] = values
        if at_pairs:
            return rows, cols, out
        return None, None, {
            name: sp.csr_matrix((values, product.indices, product.indptr),
                                shape=product.shape).toarray()
            for name, values in out.items()}


def residual_cosines(sums: dict, norms: np.ndarray, lo: int, hi: int):
    """Residual cosines of movies ``lo:hi`` against all, and their co-rater counts, from the
    :meth:`GramBlocks.sums` of every user and ``norms`` (each movie's root sum of squared
    residuals over all its raters; unused over co-raters)."""
    dots = sums["dots"]
    if "left_squares" in sums:
        scale = sums["left_squares"] * sums["right_squares"]
        np.sqrt(scale, out=scale)
    else:
        scale = norms[lo:hi, None] * norms[None, :]
    np.divide(dots, scale, out=dots, where=scale > 0)
    dots[scale <= 0] = 0.0
    return dots, sums["co_raters"]


def pair_cosines(sums: dict, norms: np.ndarray, rows: np.ndarray, cols: np.ndarray
                 ) -> np.ndarray:
    """:func:`residual_cosines` at the pairs ``(rows, cols)`` of active movies only."""
    dots = sums["dots"]
    if "left_squares" in sums:
        scale = np.sqrt(sums["left_squares"] * sums["right_squares"])
    else:
        scale = norms[rows] * norms[cols]
    return np.divide(dots, scale, out=np.zeros_like(dots), where=scale > 0)


def _with_data(matrix: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    """``matrix``'s pattern with other values, sharing its index arrays."""
    return sp.csr_matrix((data, matrix.indices, matrix.indptr), shape=matrix.shape, copy=False)


def _expand(indptr: np.ndarray, which: np.ndarray):
    """For the rows ``which`` of a compressed matrix, ``(owner, position)`` of each of their
    stored entries: ``owner`` indexes ``which``, ``position`` the matrix's data."""
    starts, lengths = indptr[which], indptr[which + 1] - indptr[which]
    owner = np.repeat(np.arange(len(which)), lengths)
    first = np.cumsum(lengths) - lengths
    return owner, starts[owner] + np.arange(len(owner)) - first[owner]


def _batches(work: np.ndarray, budget: int) -> np.ndarray:
    """Boundaries ``[0, ..., len(work)]`` of consecutive runs whose ``work`` sums to about
    ``budget`` (a run holds at least one element)."""
    total = np.cumsum(work)
    bounds = [0]
    while bounds[-1] < len(work):
        done = total[bounds[-1] - 1] if bounds[-1] else 0
        nxt = int(np.searchsorted(total, done + budget, side="right"))
        bounds.append(max(nxt, bounds[-1] + 1))
    return np.asarray(bounds)
