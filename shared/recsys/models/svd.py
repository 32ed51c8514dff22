"""Biased matrix factorisation ("SVD" as Surprise and seed 004 call it), fitted by alternating
least squares on the known ratings only."""
from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed

from shared.recsys.blas import one_blas_thread
from shared.recsys.models.base import RatingPredictor, as_ratings
from shared.recsys.ratings import RATING_MAX, RATING_MIN

# Bound on the elements of one batch of stacked design/Gram arrays (8 bytes each).
_BATCH_ELEMENTS = 1 << 22


class RidgeRows:
    r"""One small ridge regression per row of a CSR pattern, all rows solved in batches.

    Row ``r`` owns the entries ``indptr[r]:indptr[r+1]``; :meth:`solve` returns

    .. math::
        x_r = \arg\min_x \sum_j (t_j - z_{c_j} \cdot x)^2 + \sum_d \Lambda_{rd} x_d^2

    for ``z = design`` (one row per column entity), ``t = targets`` (aligned with the pattern's
    entries) and ``Λ = penalty`` (``(n_rows, k)``). Rows are grouped by length, rounded up to
    an eighth of its power of two, and padded with entries that point at a zero design row,
    which change no solution; the gather plan depends only on the pattern, so it is built once
    and reused by every ALS sweep. A group whose padded length ``L`` is at most ``k`` is solved
    in the dual, an ``L x L`` system
    :math:`x = \Lambda^{-1} Z^\top (Z \Lambda^{-1} Z^\top + I)^{-1} t`, so the many movies with
    a handful of ratings cost almost nothing; longer rows solve the ``k x k`` normal equations.
    Rows without entries get 0.
    """

    def __init__(self, indptr: np.ndarray, cols: np.ndarray):
        self.n_rows = len(indptr) - 1
        self.nnz = int(indptr[-1])
        counts = np.diff(indptr)
        lengths = _padded_lengths(counts)
        self.groups = []
        for length in np.unique(lengths[counts > 0]):
            rows = np.flatnonzero((lengths == length) & (counts > 0))
            offsets = np.arange(length)
            valid = offsets[None, :] < counts[rows, None]
            # Padding points one past the end: at the zero target and the zero design row.
            entries = np.where(valid, indptr[rows, None] + offsets[None, :], self.nnz)
            columns = np.where(valid, np.append(cols, -1)[entries], -1)
            self.groups.append((int(length), rows, entries, columns))

    def solve(self, targets, design, penalty, n_jobs: int = 1) -> np.ndarray:
        """The rows' solutions, ``(n_rows, k)``; ``n_jobs`` threads solve batches of rows
        (-1: one per core): the gathers, products and solves release the GIL, and each
        batch writes rows of its own, so the result does not depend on it."""
        k = design.shape[1]
        out = np.zeros((self.n_rows, k))
        design = np.vstack([design, np.zeros((1, k))])
        targets = np.append(targets, 0.0)
        dual_ok = bool(np.all(penalty > 0))

        def solve_batch(length, rows, entries, columns):
            Z = np.take(design, columns, axis=0)
            t = np.take(targets, entries)
            lam = penalty[rows]
            if dual_ok and length <= k:
                Zs = Z / lam[:, None, :]
                K = Zs @ Z.transpose(0, 2, 1)
                diag = np.arange(length)
                K[:, diag, diag] += 1.0
                alpha = np.linalg.solve(K, t[..., None])
                out[rows] = (Zs.transpose(0, 2, 1) @ alpha)[..., 0]
            else:
                A = Z.transpose(0, 2, 1) @ Z
                diag = np.arange(k)
                A[:, diag, diag] += lam
                b = Z.transpose(0, 2, 1) @ t[..., None]
                out[rows] = np.linalg.solve(A, b)[..., 0]

        batches: list[tuple] = []
        for length, rows, entries, columns in self.groups:
            per_batch = max(1, _BATCH_ELEMENTS // (max(length, k) ** 2))
            batches.extend((length, rows[lo:lo + per_batch], entries[lo:lo + per_batch],
                            columns[lo:lo + per_batch])
                           for lo in range(0, len(rows), per_batch))
        if n_jobs == 1:
            for batch in batches:
                solve_batch(*batch)
        else:
            Parallel(n_jobs=n_jobs, prefer="threads")(
                delayed(solve_batch)(*batch) for batch in batches)
        return out


def _padded_lengths(counts: np.ndarray) -> np.ndarray:
    """Counts rounded up to a multiple of 1/8 of their power of two (exact up to 8)."""
    step = np.maximum(1, (1 << np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64)) // 8)
    return -(-counts // step) * step


class BiasedMF(RatingPredictor):
    r"""Biased matrix factorisation, fitted on the known ratings only (Koren, Bell & Volinsky
    2009; Surprise's ``SVD``; seed 004's "SVD" that "only uses the known ratings").

    .. math::
        \hat r_{ui} = \mu + b_u + b_i + p_u \cdot q_i

    minimising

    .. math::
        \sum_{(u,i)\ \mathrm{rated}} (r_{ui} - \hat r_{ui})^2
        + \sum_u n_u^{\alpha} (\lambda_b b_u^2 + \lambda \lVert p_u\rVert^2)
        + \sum_i n_i^{\alpha} (\lambda_b b_i^2 + \lambda \lVert q_i\rVert^2)

    with :math:`\mu` the mean training rating and :math:`n_u, n_i` the numbers of ratings of the
    user and movie. With :math:`\alpha = 1` this is the objective Surprise's SGD descends
    (ALS-WR, Zhou et al. 2008); :math:`\alpha = 0` is a plain ridge. Alternating least squares
    solves it: with the movie side fixed, each user's :math:`(b_u, p_u)` is one small ridge
    regression on :math:`(1, q_i)`, and vice versa; all of a side's regressions are solved at
    once by :class:`RidgeRows`. Each sweep solves movies then users, so the users'
    factors are exactly what :meth:`predict_unseen` folds a training row into. A movie with no
    training ratings keeps :math:`b_i = 0, q_i = 0`.

    ``score_users`` and ``predict_unseen`` return unclipped scores (for ranking);
    ``predict`` clips to 0.5..5. The defaults are tuned on a validation slice of
    ml-latest-small's training ratings; docs/accuracy-benchmark.md compares them with
    Surprise's SGD ``SVD``.

    Parameters
    ----------
    n_factors : int
        Length of :math:`p_u` and :math:`q_i`.
    reg : float
        :math:`\lambda`, the penalty on the factors (per rating when ``reg_exponent`` = 1).
    reg_bias : float
        :math:`\lambda_b`, the penalty on the biases.
    reg_exponent : float
        :math:`\alpha`: penalties grow as :math:`n^\alpha`, so users and movies with many
        ratings are held less tightly than a plain ridge would, but more than not at all.
    n_iter : int
        Alternating sweeps (movies, then users); 6 are as accurate as 12 on MovieLens at half
        the time (docs/accuracy-benchmark.md).
    init_std : float
        Standard deviation of the random normal start of the user factors.
    random_state : int or None
        Seeds that start, so fits are reproducible.
    n_jobs : int
        Threads solving the rows of each half-sweep (-1: one per core); the result does not
        depend on it.

    Attributes
    ----------
    global_mean_, user_bias_, item_bias_ : float, (n_users,), (n_movies,)
    user_factors_, item_factors_ : (n_users, n_factors), (n_movies, n_factors)
    """

    def __init__(self, n_factors: int = 32, reg: float = 1.3, reg_bias: float = 1.2,
                 reg_exponent: float = 0.5, n_iter: int = 6, init_std: float = 0.1,
                 random_state=0, n_jobs: int = -1):
        self.n_factors = n_factors
        self.reg = reg
        self.reg_bias = reg_bias
        self.reg_exponent = reg_exponent
        self.n_iter = n_iter
        self.init_std = init_std
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        X = as_ratings(X)
        n_users, n_items = X.shape
        Xt = X.T.tocsr()
        self.global_mean_ = float(X.data.mean()) if X.nnz else (RATING_MIN + RATING_MAX) / 2
        rng = np.random.default_rng(self.random_state)
        user = np.column_stack([np.zeros(n_users),
                                rng.normal(0.0, self.init_std, (n_users, self.n_factors))])
        item = np.zeros((n_items, self.n_factors + 1))
        resid_by_user = X.data - self.global_mean_
        resid_by_item = Xt.data - self.global_mean_
        user_penalty = self.penalty(np.diff(X.indptr))
        item_penalty = self.penalty(np.diff(Xt.indptr))
        by_user, by_item = RidgeRows(X.indptr, X.indices), RidgeRows(Xt.indptr, Xt.indices)
        # Thousands of tiny BLAS calls, where extra BLAS threads only contend.
        with one_blas_thread():
            for _ in range(self.n_iter):
                # Design rows are (1, p_u) and (1, q_i): the leading 1 fits the bias.
                item = by_item.solve(resid_by_item - user[Xt.indices, 0],
                                     with_unit_column(user[:, 1:]), item_penalty, self.n_jobs)
                user = by_user.solve(resid_by_user - item[X.indices, 0],
                                     with_unit_column(item[:, 1:]), user_penalty, self.n_jobs)
        self.user_bias_, self.user_factors_ = user[:, 0].copy(), np.ascontiguousarray(user[:, 1:])
        self.item_bias_, self.item_factors_ = item[:, 0].copy(), np.ascontiguousarray(item[:, 1:])
        return self

    def penalty(self, counts: np.ndarray) -> np.ndarray:
        """The ridge penalty of each row's ``(b, p)``, from its number of ratings: one row of
        :class:`RidgeRows`' ``penalty`` per user or movie."""
        scale = np.maximum(counts, 1).astype(np.float64) ** self.reg_exponent
        per_coordinate = np.r_[self.reg_bias, np.full(self.n_factors, float(self.reg))]
        return scale[:, None] * per_coordinate[None, :]

    def fold_in(self, X_new):
        """Biases and factors ``(b, P)`` of users unseen in ``fit``, from their ratings
        ``X_new``, with the movie side fixed (the user half of one ALS sweep)."""
        X_new = as_ratings(X_new)
        if X_new.shape[1] != len(self.item_bias_):
            raise ValueError(f"X_new has {X_new.shape[1]} movies, the model {len(self.item_bias_)}")
        targets = X_new.data - self.global_mean_ - self.item_bias_[X_new.indices]
        # No thread limit here: setting one costs milliseconds a call on the serving path, where
        # the services already run single-threaded BLAS (shared.recsys.blas.single_threaded_blas).
        solved = RidgeRows(X_new.indptr, X_new.indices).solve(
            targets, with_unit_column(self.item_factors_), self.penalty(np.diff(X_new.indptr)))
        return solved[:, 0], solved[:, 1:]

    def _scores(self, bias, factors) -> np.ndarray:
        scores = factors @ self.item_factors_.T
        scores += self.global_mean_ + bias[:, None] + self.item_bias_[None, :]
        return scores

    def score_users(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return self._scores(self.user_bias_[users], self.user_factors_[users])

    def predict(self, users, items) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        pred = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        pred += self.global_mean_ + self.user_bias_[users] + self.item_bias_[items]
        return np.clip(pred, RATING_MIN, RATING_MAX)

    def predict_unseen(self, X_new) -> np.ndarray:
        return self._scores(*self.fold_in(X_new))

    def predict_unseen_at(self, X_new, rows, items) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        bias, factors = self.fold_in(X_new)
        pred = np.einsum("ij,ij->i", factors[rows], self.item_factors_[items])
        pred += self.global_mean_ + bias[rows] + self.item_bias_[items]
        return np.clip(pred, RATING_MIN, RATING_MAX)


def with_unit_column(factors: np.ndarray) -> np.ndarray:
    """The design rows ``(1, p)`` of a side's factors: the leading 1 fits the bias."""
    return np.column_stack([np.ones(len(factors)), factors])
