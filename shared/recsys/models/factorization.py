"""Matrix factorisations of the mean-filled rating matrix (seed 003): truncated SVD, NMF and
iterative SVD.

Seed 003 fills every missing rating with the user's mean and factorises the filled matrix.
The filled matrix is never built here: it equals ``offsets + D``, where ``offsets`` is
``a_u + b_i`` (``a`` the user means, ``b = 0``; or the baseline ``mu + b_u`` and ``b_i`` with
``centering='baseline'``) and ``D`` is sparse, holding ``r_ui - a_u - b_i`` on the rated cells
only. Every product with the filled matrix is a sparse product plus a rank-two one.

Fits and fold-ins run BLAS on one thread (:mod:`shared.recsys.blas`): their BLAS calls are many
and small (ARPACK's vector products, tall-skinny QR), where more threads only contend.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solve_triangular
from scipy.optimize import nnls
from scipy.sparse.linalg import LinearOperator, svds

from shared.recsys.blas import with_one_blas_thread
from shared.recsys.models.base import RatingPredictor, as_ratings
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.ratings import RATING_MAX, RATING_MIN

CENTRINGS = ("user_mean", "baseline")
_ROWS_PER_CHUNK = 1 << 20


def _row_of_each_rating(X: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))


def _observed_dot(P: np.ndarray, Q: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``(P @ Q.T)[rows, cols]`` without forming ``P @ Q.T``, in chunks to bound memory."""
    out = np.empty(len(rows))
    for start in range(0, len(rows), _ROWS_PER_CHUNK):
        r, c = rows[start:start + _ROWS_PER_CHUNK], cols[start:start + _ROWS_PER_CHUNK]
        out[start:start + len(r)] = np.einsum("ij,ij->i", P[r], Q[c])
    return out


def _sparse_plus_low_rank(S: sp.csr_matrix, P: np.ndarray, Q: np.ndarray) -> LinearOperator:
    """The matrix ``S + P @ Q.T`` as an operator: products cost ``nnz + (m + n) k``."""
    St = S.T.tocsr()
    return LinearOperator(
        S.shape, dtype=np.float64,
        matvec=lambda x: S @ x + P @ (Q.T @ x),
        rmatvec=lambda y: St @ y + Q @ (P.T @ y),
        matmat=lambda B: S @ B + P @ (Q.T @ B),
        rmatmat=lambda B: St @ B + Q @ (P.T @ B),
    )


def _top_svd(A, k: int, rng: np.random.Generator):
    """The ``k`` leading singular triplets of a sparse matrix or operator, largest first."""
    if k < 1:
        raise ValueError(f"n_components must be at least 1, got {k}")
    m, n = A.shape
    k = min(k, m, n)
    if k >= min(m, n) - 1:
        # ARPACK needs k < min(m, n); such a matrix is at most k + 1 wide on one side.
        if isinstance(A, LinearOperator):
            dense = A.rmatmat(np.eye(m)).T if m <= n else A.matmat(np.eye(n))
        else:
            dense = A.toarray()
        U, s, Vt = np.linalg.svd(dense, full_matrices=False)
        return U[:, :k], s[:k], Vt[:k]
    if not np.any(A @ rng.standard_normal(n)):  # the zero matrix, which ARPACK refuses
        return np.zeros((m, 0)), np.zeros(0), np.zeros((0, n))
    U, s, Vt = svds(A, k=k, v0=rng.standard_normal(min(m, n)))
    order = np.argsort(s)[::-1]
    return U[:, order], s[order], Vt[order]


class _FilledMatrixFactorization(RatingPredictor):
    """Shared by the estimators below: the user-mean (or baseline) fill of seed 003, and
    predictions ``a_u + b_i + p_u . q_i`` from the learned ``user_factors_`` (p) and
    ``item_factors_`` (q). Subclasses set ``user_factors_``/``item_factors_`` in ``fit`` and
    implement ``_fold_in``."""

    _factors_model_residuals = True

    def _fit_fill(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """Learn the fill values of ``X``; return the residuals ``D`` (pattern of ``X``)."""
        if self.centering not in CENTRINGS:
            raise ValueError(f"centering must be one of {CENTRINGS}, got {self.centering!r}")
        self.global_mean_ = float(X.data.mean()) if X.nnz else (RATING_MIN + RATING_MAX) / 2
        if self.centering == "baseline":
            self.baseline_ = BaselinePredictor().fit(X)
            self.item_offset_ = self.baseline_.item_bias_.copy()
            self.user_offset_ = self.baseline_.global_mean_ + self.baseline_.user_bias_
        else:
            self.item_offset_ = np.zeros(X.shape[1])
            self.user_offset_ = self._user_means(X)
        return self._residuals(X, self.user_offset_)

    def _user_means(self, X: sp.csr_matrix) -> np.ndarray:
        counts = np.diff(X.indptr)
        sums = np.bincount(_row_of_each_rating(X), X.data, minlength=X.shape[0])
        return np.where(counts > 0, sums / np.maximum(counts, 1), self.global_mean_)

    def _residuals(self, X: sp.csr_matrix, user_offset: np.ndarray) -> sp.csr_matrix:
        data = X.data - user_offset[_row_of_each_rating(X)] - self.item_offset_[X.indices]
        return sp.csr_matrix((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)

    def _fill_for(self, X_new):
        """Fill values and residuals of users unseen in ``fit``."""
        X_new = as_ratings(X_new)
        if X_new.shape[1] != len(self.item_offset_):
            raise ValueError(
                f"X_new has {X_new.shape[1]} movies, the model {len(self.item_offset_)}")
        if self.centering == "baseline":
            user_offset = self.baseline_.global_mean_ + self.baseline_.user_bias_for(X_new)
        else:
            user_offset = self._user_means(X_new)
        return user_offset, self._residuals(X_new, user_offset)

    def _fold_in(self, user_offset: np.ndarray, D_new: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def _scores(self, user_offset, user_factors) -> np.ndarray:
        scores = user_factors @ self.item_factors_.T
        if self._factors_model_residuals:
            scores += user_offset[:, None] + self.item_offset_[None, :]
        return scores

    def score_users(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return self._scores(self.user_offset_[users], self.user_factors_[users])

    def predict(self, users, items) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        pred = _observed_dot(self.user_factors_, self.item_factors_, users, items)
        if self._factors_model_residuals:
            pred += self.user_offset_[users] + self.item_offset_[items]
        return np.clip(pred, RATING_MIN, RATING_MAX)

    @with_one_blas_thread
    def predict_unseen(self, X_new) -> np.ndarray:
        user_offset, D_new = self._fill_for(X_new)
        return self._scores(user_offset, self._fold_in(user_offset, D_new))


class TruncatedSVDPredictor(_FilledMatrixFactorization):
    r"""Rank-``k`` SVD of the user-mean-filled rating matrix (seed 003's truncated SVD).

    .. math::
        F = a\,\mathbf 1^\top + \mathbf 1\,b^\top + D \approx a\,\mathbf 1^\top + \mathbf 1\,b^\top
        + U_k \Sigma_k V_k^\top, \qquad \hat r_{ui} = a_u + b_i + p_u \cdot q_i

    with :math:`D` the sparse residuals :math:`r_{ui} - a_u - b_i` on rated cells (0 elsewhere, so
    :math:`F` is the filled matrix), :math:`p_u` the rows of :math:`U_k\Sigma_k`
    (``user_factors_``) and :math:`q_i` the rows of :math:`V_k` (``item_factors_``, orthonormal
    columns). The SVD runs on sparse :math:`D` (ARPACK); the filled matrix is never formed.
    A new user's row :math:`d` is folded in as :math:`p = d\,V_k`, which for a training row
    gives back its own :math:`p_u`.

    Parameters
    ----------
    n_components : int
        :math:`k`, the rank kept (seed 003: 16).
    centering : {'user_mean', 'baseline'}
        The fill: ``'user_mean'`` is seed 003's (:math:`a_u` the user's mean rating, :math:`b = 0`);
        ``'baseline'`` fills with :class:`BaselinePredictor`'s :math:`\mu + b_u + b_i`.
    random_state : int or None
        Seeds ARPACK's start vector, so fits are reproducible.
    """

    def __init__(self, n_components: int = 16, centering: str = "user_mean", random_state=0):
        self.n_components = n_components
        self.centering = centering
        self.random_state = random_state

    @with_one_blas_thread
    def fit(self, X, y=None):
        X = as_ratings(X)
        D = self._fit_fill(X)
        U, s, Vt = _top_svd(D, self.n_components, np.random.default_rng(self.random_state))
        self.singular_values_ = s
        self.user_factors_ = U * s
        self.item_factors_ = Vt.T
        return self

    def _fold_in(self, user_offset, D_new):
        return np.asarray(D_new @ self.item_factors_)


class IterativeSVD(_FilledMatrixFactorization):
    r"""Iterative SVD (seed 003's SVD-I): re-impute the missing cells with the current
    reconstruction and re-decompose, from the user-mean fill, until the reconstruction settles.

    This is Mazumder, Hastie & Tibshirani's (2010) HARD-IMPUTE, or SOFT-IMPUTE when
    ``shrinkage`` > 0. With :math:`Z_t` the rank-``k`` reconstruction of the residuals and
    :math:`P_\Omega` keeping the rated cells,

    .. math::
        Z_{t+1} = \mathrm{SVD}_{k,\lambda}\big(P_\Omega(D) + P_\Omega^\perp(Z_t)\big),
        \qquad Z_0 = 0, \qquad \hat r_{ui} = a_u + b_i + (Z_T)_{ui}

    where :math:`\mathrm{SVD}_{k,\lambda}` keeps the top ``k`` singular triplets and
    soft-thresholds their values, :math:`\sigma \mapsto \max(\sigma - \lambda, 0)`. The first
    step is :class:`TruncatedSVDPredictor`. The filled matrix is never formed: it is
    :math:`P_\Omega(D - Z_t) + Z_t`, sparse plus low rank, and the SVD multiplies by it as an
    operator. ``history_`` holds the relative change
    :math:`\|Z_{t+1} - Z_t\|_F^2 / \|Z_{t+1}\|_F^2` of each step, ``train_rmse_`` the error on
    the rated cells after it (never increasing when ``shrinkage`` = 0).

    A new user is folded in at the fixed point of the same iteration for that row with
    :math:`V_k` held: :math:`p = \arg\min \|d_\Omega - V_\Omega p\|^2 +
    \sum_j \lambda / \sigma_j\, p_j^2` (least squares on the rated cells; ridge under shrinkage).
    At convergence this gives back a training row's own factors.

    Hard impute run to convergence overfits (docs/model-tuning.md), so the default shrinks.

    Parameters
    ----------
    n_components : int
        :math:`k`, the most singular triplets kept (fewer survive a large ``shrinkage``).
    n_iter : int
        Most impute/decompose steps.
    tol : float
        Stop once the relative change falls below it (Mazumder et al.'s criterion).
    shrinkage : float
        :math:`\lambda`, subtracted from every singular value of the filled residual matrix;
        0 is hard impute. Singular values grow with the data, so retune it per data set
        (docs/model-tuning.md).
    centering : {'user_mean', 'baseline'}
        The starting fill, as in :class:`TruncatedSVDPredictor`.
    random_state : int or None
        Seeds ARPACK's start vectors.
    """

    def __init__(self, n_components: int = 16, n_iter: int = 100, tol: float = 1e-5,
                 shrinkage: float = 15.0, centering: str = "user_mean", random_state=0):
        self.n_components = n_components
        self.n_iter = n_iter
        self.tol = tol
        self.shrinkage = shrinkage
        self.centering = centering
        self.random_state = random_state

    @with_one_blas_thread
    def fit(self, X, y=None):
        X = as_ratings(X)
        D = self._fit_fill(X)
        rng = np.random.default_rng(self.random_state)
        rows, cols = _row_of_each_rating(D), D.indices
        m, n = D.shape
        P, Q, s = np.zeros((m, 0)), np.zeros((n, 0)), np.zeros(0)
        fitted = np.zeros(D.nnz)
        self.history_, self.train_rmse_ = [], []
        self.converged_ = False
        for _ in range(self.n_iter):
            S = sp.csr_matrix((D.data - fitted, D.indices, D.indptr), shape=D.shape)
            U, s, Vt = _top_svd(_sparse_plus_low_rank(S, P, Q), self.n_components, rng)
            s = s - self.shrinkage
            keep = s > 0
            s, P_new, Q_new = s[keep], U[:, keep] * s[keep], Vt[keep].T
            self.history_.append(_relative_change(P, Q, P_new, Q_new))
            P, Q = P_new, Q_new
            fitted = _observed_dot(P, Q, rows, cols)
            self.train_rmse_.append(
                float(np.sqrt(np.mean((D.data - fitted) ** 2))) if D.nnz else 0.0)
            if self.history_[-1] < self.tol:
                self.converged_ = True
                break
        self.n_iter_ = len(self.history_)
        self.singular_values_ = s
        self.user_factors_ = P
        self.item_factors_ = Q
        return self

    def _fold_in(self, user_offset, D_new):
        Q = self.item_factors_
        k = Q.shape[1]
        ridge = np.sqrt(self.shrinkage / self.singular_values_) if k else np.zeros(0)
        out = np.zeros((D_new.shape[0], k))
        for u in range(D_new.shape[0]):
            lo, hi = D_new.indptr[u], D_new.indptr[u + 1]
            if hi == lo or k == 0:
                continue
            design = np.vstack([Q[D_new.indices[lo:hi]], np.diag(ridge)])
            target = np.concatenate([D_new.data[lo:hi], np.zeros(k)])
            out[u] = np.linalg.lstsq(design, target, rcond=None)[0]
        return out


def _relative_change(P_old, Q_old, P_new, Q_new) -> float:
    """``||Z_new - Z_old||_F^2 / ||Z_new||_F^2`` for ``Z = P @ Q.T`` with orthonormal ``Q``
    columns, in ``O((m + n) k^2)``."""
    old_sq, new_sq = float(np.sum(P_old ** 2)), float(np.sum(P_new ** 2))
    cross = float(np.sum((P_old.T @ P_new) * (Q_old.T @ Q_new)))
    diff_sq = max(old_sq + new_sq - 2 * cross, 0.0)
    return diff_sq / new_sq if new_sq > 0 else float(diff_sq > 0)


class NMFPredictor(_FilledMatrixFactorization):
    r"""Non-negative factorisation of the user-mean-filled rating matrix (seed 003's NMF).

    .. math::
        \min_{W \ge 0,\, H \ge 0} \|F - W H\|_F^2, \qquad
        F = a\,\mathbf 1^\top + \mathbf 1\,b^\top + D, \qquad \hat r_{ui} = w_u \cdot h_i

    NMF needs a non-negative matrix, so it factorises the filled ratings themselves, not
    residuals. It is solved by HALS (Cichocki & Phan 2009: exact non-negative updates of one
    column of :math:`W` or row of :math:`H` at a time, what scikit-learn's ``cd`` solver does),
    whose updates need only :math:`F H^\top` and :math:`W^\top F`: products with the sparse
    :math:`D` plus rank-two terms. So the dense users x movies matrix is never formed and the fit
    scales like a sparse one (scikit-learn's ``NMF`` would need it dense). The fit ends with an
    exact non-negative least-squares solve of each :math:`w_u` with :math:`H` fixed, which is
    also how a new user's filled row is folded in: a training row folds back to its own
    :math:`w_u`. ``user_factors_`` is :math:`W`, ``item_factors_`` is :math:`H^\top`.

    Parameters
    ----------
    n_components : int
        The rank (seed 003: 15).
    centering : {'user_mean', 'baseline'}
        The fill of the missing cells, as in :class:`TruncatedSVDPredictor`.
    max_iter : int
        Most HALS sweeps (each updates all of :math:`H`, then all of :math:`W`).
    tol : float
        Stop when a sweep lowers the objective by less than ``tol`` times its first value.
    random_state : int or None
        Seeds the random non-negative start.
    """

    _factors_model_residuals = False

    def __init__(self, n_components: int = 15, centering: str = "user_mean",
                 max_iter: int = 200, tol: float = 1e-4, random_state=0):
        self.n_components = n_components
        self.centering = centering
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    @with_one_blas_thread
    def fit(self, X, y=None):
        X = as_ratings(X)
        D = self._fit_fill(X)
        a, b = self.user_offset_, self.item_offset_
        m, n = D.shape
        Dt = D.T.tocsr()
        rng = np.random.default_rng(self.random_state)
        mean_fill = a.mean() + b.mean() + D.sum() / (m * n)
        scale = np.sqrt(max(mean_fill, 1e-12) / self.n_components)
        W = scale * rng.random((m, self.n_components))
        H = scale * rng.random((self.n_components, n))
        fill_sq = _filled_norm_sq(a, b, D)
        first = previous = None
        sweeps = 0
        while sweeps < self.max_iter:
            sweeps += 1
            WtF = (W.T @ a)[:, None] + np.outer(W.sum(axis=0), b) + (Dt @ W).T
            _hals_sweep(H.T, WtF.T, W.T @ W)
            FHt, HHt = _filled_times(a, b, D, H.T), H @ H.T
            _hals_sweep(W, FHt, HHt)
            objective = _nmf_objective(fill_sq, W, FHt, HHt)
            if first is None:
                first = objective
            elif previous - objective < self.tol * first:
                break
            previous = objective
        self.n_iter_ = sweeps
        self.item_factors_ = H.T
        self.user_factors_ = self._fold_in(a, D)
        self.reconstruction_err_ = float(np.sqrt(max(_nmf_objective(
            fill_sq, self.user_factors_, _filled_times(a, b, D, H.T), H @ H.T), 0.0)))
        return self

    def _fold_in(self, user_offset, D_new):
        """Exact NNLS ``min_{w >= 0} ||f - w H||^2`` per filled row ``f``, in its k x k Gram
        form ``w G w - 2 w c`` with ``G = H H^T = L L^T``: ``||L^T w - L^{-1} c||^2``."""
        H = self.item_factors_.T
        k = len(H)
        gram = H @ H.T
        chol = np.linalg.cholesky(gram + 1e-10 * max(np.trace(gram) / k, 1.0) * np.eye(k))
        targets = _filled_times(user_offset, self.item_offset_, D_new, H.T)
        rhs = solve_triangular(chol, targets.T, lower=True).T
        return np.array([nnls(chol.T, r)[0] for r in rhs]).reshape(len(rhs), k)


def _filled_times(a, b, D, B) -> np.ndarray:
    """``F @ B`` for the filled matrix ``F = a 1^T + 1 b^T + D`` and dense ``B``."""
    return np.outer(a, B.sum(axis=0)) + (b @ B)[None, :] + D @ B


def _nmf_objective(fill_sq, W, FHt, HHt) -> float:
    """``||F - W H||_F^2`` from ``||F||^2``, ``F H^T`` and ``H H^T``."""
    return float(fill_sq - 2 * np.sum(W * FHt) + np.sum((W.T @ W) * HHt))


def _hals_sweep(W: np.ndarray, FHt: np.ndarray, HHt: np.ndarray) -> None:
    """One HALS sweep (Cichocki & Phan 2009): each column of ``W`` in turn set, in place, to its
    exact non-negative minimiser of ``||F - W H||^2`` with the others fixed."""
    for j in range(W.shape[1]):
        if HHt[j, j] > 0:
            W[:, j] = np.maximum(W[:, j] + (FHt[:, j] - W @ HHt[:, j]) / HHt[j, j], 0.0)


def _filled_norm_sq(a, b, D) -> float:
    """``||a 1^T + 1 b^T + D||_F^2`` without forming it."""
    m, n = D.shape
    rows = _row_of_each_rating(D)
    offsets_sq = n * np.sum(a ** 2) + m * np.sum(b ** 2) + 2 * a.sum() * b.sum()
    cross = 2 * np.sum(D.data * (a[rows] + b[D.indices]))
    return float(offsets_sq + cross + np.sum(D.data ** 2))
