"""Implicit alternating least squares (iALS): matrix factorisation of implicit feedback, with user
vectors solved in closed form from a user's current ratings at request time."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from shared.recsys.blas import with_one_blas_thread
from shared.recsys.models.topn import TopNRecommender, confidence, one_row

# Stored entries whose factor rows are gathered at once (small enough to stay in cache).
_GATHER_ENTRIES = 1 << 14
_posv = lapack.get_lapack_funcs("posv", (np.zeros(1),))


class ImplicitALS(TopNRecommender):
    r"""Users and movies as ``n_factors``-dimensional vectors :math:`w_u, h_i` whose dot product
    :math:`s_{ui} = \langle w_u, h_i \rangle` scores movie :math:`i` for user :math:`u`
    (Hu, Koren and Volinsky 2008, in the form and with the tuning advice of Rendle et al. 2021,
    "Revisiting the performance of iALS on item recommendation benchmarks"):

    .. math::
        L(W, H) = \sum_{(u,i) \in S} c_{ui} (p_{ui} - s_{ui})^2
                  + \alpha_0 \sum_{u} \sum_{i} s_{ui}^2
                  + \sum_u \lambda_u \lVert w_u \rVert^2 + \sum_i \lambda_i \lVert h_i \rVert^2,

    .. math::
        \lambda_u = \lambda \, (|S_u| + \alpha_0 |I|)^{\nu}, \qquad
        \lambda_i = \lambda \, (|S_i| + \alpha_0 |U|)^{\nu}

    :math:`S` holds the rated pairs; the signed feedback :math:`f_{ui}` of
    :func:`shared.recsys.models.topn.confidence` (``scheme``) gives the preference
    :math:`p_{ui} = [f_{ui} > 0]` and the confidence :math:`c_{ui} = |f_{ui}|` (a negative
    signal is a confident 0). Every pair, rated or not, is pulled towards 0 with the weight
    :math:`\alpha_0`; the frequency-scaled :math:`\lambda_u, \lambda_i` (:math:`\nu`) keep
    heavy users and popular movies from needing a different penalty than the rest.

    With :math:`H` fixed, each user's vector has the closed form

    .. math::
        w_u = \Bigl(\alpha_0 H^\top H + \sum_{i \in S_u} c_{ui} h_i h_i^\top
                    + \lambda_u I\Bigr)^{-1} \sum_{i \in S_u} c_{ui} p_{ui} h_i

    where :math:`\alpha_0 H^\top H` is shared by every user (the Gram trick): a user costs a
    :math:`|S_u| \times k^2` correction and one :math:`k \times k` Cholesky solve. Symmetrically
    for movies. ``fit`` alternates movie and user half-steps, each a few conjugate-gradient
    steps from the previous vectors on all rows at once (Takács et al. 2011), which lowers
    :math:`L` at every step at a fraction of an exact solve's cost; the last user half-step is
    the exact solve above, the same one ``predict_unseen`` makes from a user's current ratings
    (fold-in), so a fitted user's ``score_users`` and the fold-in of their own row agree and a
    new rating changes the list without a refit. ``objective_`` records :math:`L` per epoch.

    Parameters
    ----------
    n_factors : int
        :math:`k`, the dimension of the vectors.
    reg : float
        :math:`\lambda`, the L2 penalty before frequency scaling.
    unobserved_weight : float
        :math:`\alpha_0`, the weight pulling every score towards 0 relative to the rated
        pairs' weight; small values let the rated pairs dominate.
    reg_exponent : float
        :math:`\nu`: 0 is a plain L2 penalty, 1 scales it with each row's total weight.
    init_std : float
        Initial vectors are :math:`N(0, \sigma^2 / k)` with :math:`\sigma` = ``init_std``.
    n_iter : int
        Epochs (a movie half-step and a user half-step each).
    cg_steps : int
        Conjugate-gradient steps per half-step in ``fit``.
    scheme : {'binary', 'rating', 'liked', 'signed'}
        How ratings become preference and confidence (see ``confidence``).
    random_state : int or None
        Seed of the initial vectors.

    Attributes
    ----------
    user_factors_ : ndarray (n_users, k)
    item_factors_ : ndarray (n_movies, k)
    objective_ : list of float, :math:`L` after each epoch
    """

    def __init__(self, n_factors: int = 64, reg: float = 0.01, unobserved_weight: float = 0.3,
                 reg_exponent: float = 1.0, init_std: float = 0.1, n_iter: int = 15,
                 cg_steps: int = 3, scheme: str = "signed", random_state: int | None = 0):
        self.n_factors = n_factors
        self.reg = reg
        self.unobserved_weight = unobserved_weight
        self.reg_exponent = reg_exponent
        self.init_std = init_std
        self.n_iter = n_iter
        self.cg_steps = cg_steps
        self.scheme = scheme
        self.random_state = random_state

    @with_one_blas_thread
    def fit(self, X, y=None):
        if self.n_factors < 1 or self.n_iter < 1 or self.cg_steps < 1:
            raise ValueError("n_factors, n_iter and cg_steps must be at least 1")
        if self.reg <= 0 or self.unobserved_weight < 0:
            raise ValueError("reg must be positive and unobserved_weight non-negative")
        by_user = _Feedback(confidence(X, self.scheme))
        by_item = _Feedback(by_user.matrix.T.tocsr())
        n_users, n_items = by_user.matrix.shape
        k = self.n_factors
        rng = np.random.default_rng(self.random_state)
        scale = self.init_std / np.sqrt(k)
        W = rng.normal(0.0, scale, (n_users, k))
        H = rng.normal(0.0, scale, (n_items, k))
        reg_users = self._row_penalties(by_user.counts, n_items)
        reg_items = self._row_penalties(by_item.counts, n_users)
        self.objective_ = []
        for epoch in range(self.n_iter):
            H = _conjugate_gradient(by_item, W, H, self._gram(W), reg_items, self.cg_steps)
            gram = self._gram(H)
            if epoch == self.n_iter - 1:
                W = _exact_rows(by_user, H, gram, reg_users)
            else:
                W = _conjugate_gradient(by_user, H, W, gram, reg_users, self.cg_steps)
            self.objective_.append(self._objective(by_user, W, H, reg_users, reg_items))
        self.user_factors_ = W
        self.item_factors_ = H
        self._build_derived_state()
        return self

    def _build_derived_state(self) -> None:
        """``_item_gram`` (:math:`\\alpha_0 H^\\top H`), the part of every fold-in solve that does
        not depend on the user: built by ``fit`` and by :func:`shared.recsys.persist.decode`."""
        self._item_gram = self._gram(self.item_factors_)

    def _gram(self, F: np.ndarray) -> np.ndarray:
        return self.unobserved_weight * (F.T @ F)

    def _row_penalties(self, counts: np.ndarray, n_other: int) -> np.ndarray:
        return self.reg * (counts + self.unobserved_weight * n_other) ** self.reg_exponent

    def _objective(self, by_user, W, H, reg_users, reg_items) -> float:
        scores = by_user.row_dots(W, H)
        rated = np.sum(by_user.weight * (by_user.target - scores) ** 2)
        unobserved = self.unobserved_weight * np.sum((W.T @ W) * (H.T @ H))
        penalty = reg_users @ np.sum(W * W, axis=1) + reg_items @ np.sum(H * H, axis=1)
        return float(rated + unobserved + penalty)

    def user_vectors(self, X_new) -> np.ndarray:
        """The closed-form vectors :math:`w_u` of users whose current ratings are ``X_new``."""
        X_new = self._check_movies(X_new, self.item_factors_.shape[0])
        feedback = _Feedback(confidence(X_new, self.scheme))
        penalties = self._row_penalties(feedback.counts, self.item_factors_.shape[0])
        return _exact_rows(feedback, self.item_factors_, self._item_gram, penalties)

    def score_users(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return self.user_factors_[users] @ self.item_factors_.T

    def predict_unseen(self, X_new) -> np.ndarray:
        return self.user_vectors(X_new) @ self.item_factors_.T

    @property
    def n_movies_(self) -> int:
        return self.item_factors_.shape[0]

    def contributions(self, movies: np.ndarray, ratings: np.ndarray, items) -> np.ndarray:
        r"""With :math:`A, b` the user's normal equations, :math:`s_i = h_i^\top A^{-1} b =
        \sum_j c_j p_j\, h_i^\top A^{-1} h_j`: rated movie :math:`j` adds
        :math:`c_j p_j\, h_i^\top A^{-1} h_j` (a negative signal, :math:`p_j = 0`, adds none)."""
        H = self.item_factors_
        feedback = _Feedback(confidence(one_row(movies, ratings, H.shape[0]), self.scheme))
        penalty = self._row_penalties(feedback.counts, H.shape[0])[0]
        A, _ = _normal_equations(feedback, 0, H, self._item_gram, penalty)
        solved = _cholesky_solve(A, H[np.asarray(items, dtype=np.int64)].T)  # A^-1 h_i per item
        return (solved.T @ H[feedback.matrix.indices].T) * (feedback.weight * feedback.target)


class _Feedback:
    """A CSR matrix of signed feedback read as iALS's preference (``target``) and confidence
    (``weight``) per stored entry, with each entry's row."""

    def __init__(self, matrix: sp.csr_matrix):
        matrix.sort_indices()
        self.matrix = matrix
        self.counts = np.diff(matrix.indptr)
        self.rows = np.repeat(np.arange(matrix.shape[0]), self.counts)
        self.weight = np.abs(matrix.data)
        self.target = (matrix.data > 0).astype(np.float64)

    def row_dots(self, V: np.ndarray, F: np.ndarray) -> np.ndarray:
        """Per stored entry (r, c): :math:`\\langle V_r, F_c \\rangle`, a block at a time."""
        out = np.empty(len(self.rows), dtype=np.result_type(V, F))
        cols = self.matrix.indices
        for lo in range(0, len(out), _GATHER_ENTRIES):
            hi = lo + _GATHER_ENTRIES
            out[lo:hi] = np.einsum("ij,ij->i", np.take(V, self.rows[lo:hi], axis=0),
                                   np.take(F, cols[lo:hi], axis=0))
        return out

    def weighted(self, values: np.ndarray) -> sp.csr_matrix:
        m = self.matrix
        return sp.csr_matrix((values, m.indices, m.indptr), shape=m.shape)


def _conjugate_gradient(feedback: _Feedback, F, V, gram, penalties, steps: int) -> np.ndarray:
    """``steps`` conjugate-gradient steps from ``V`` on every row's normal equations
    :math:`(G + \\sum_c c\\,f_c f_c^\\top + \\lambda_r I) v_r = \\sum_c c\\,p\\,f_c`,
    all rows at once."""
    # The products with the stored entries are the cost; float32 halves it, and the steps
    # stay descent steps (the objective is computed in float64).
    F32 = F.astype(np.float32)

    def apply(P):
        dots = feedback.row_dots(P.astype(np.float32), F32)
        corrections = feedback.weighted(feedback.weight * dots) @ F
        return P @ gram + corrections + penalties[:, None] * P

    V = V.copy()
    rhs = feedback.weighted(feedback.weight * feedback.target) @ F
    residual = rhs - apply(V)
    direction = residual.copy()
    norm = np.sum(residual * residual, axis=1)
    for _ in range(steps):
        product = apply(direction)
        curvature = np.sum(direction * product, axis=1)
        step = np.divide(norm, curvature, out=np.zeros_like(norm), where=curvature > 0)
        V += step[:, None] * direction
        residual -= step[:, None] * product
        new_norm = np.sum(residual * residual, axis=1)
        ratio = np.divide(new_norm, norm, out=np.zeros_like(norm), where=norm > 0)
        direction = residual + ratio[:, None] * direction
        norm = new_norm
    return V


def _normal_equations(feedback: _Feedback, r: int, F, gram, penalty: float):
    r"""Row ``r``'s system :math:`A w = b`: the rated columns' :math:`c\,h h^\top` on top of the
    shared ``gram`` and the penalty, and :math:`b = \sum c\,p\,h`."""
    m = feedback.matrix
    lo, hi = m.indptr[r], m.indptr[r + 1]
    rated = F[m.indices[lo:hi]]
    weight = feedback.weight[lo:hi]
    b = (weight * feedback.target[lo:hi]) @ rated
    scaled = rated * np.sqrt(weight)[:, None]
    A = scaled.T @ scaled  # numpy computes a matrix times its own transpose as one syrk
    A += gram
    A[np.diag_indices(F.shape[1])] += penalty
    return A, b


def _exact_rows(feedback: _Feedback, F, gram, penalties) -> np.ndarray:
    """Every row's normal equations solved exactly (Cholesky), one k x k system per row."""
    out = np.zeros((feedback.matrix.shape[0], F.shape[1]))
    for r in range(len(out)):
        out[r] = _cholesky_solve(*_normal_equations(feedback, r, F, gram, penalties[r]))
    return out


def _cholesky_solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``A^{-1} b`` for a symmetric positive definite ``A`` (overwritten), LAPACK ``posv``."""
    _, x, info = _posv(A, b, lower=True, overwrite_a=True, overwrite_b=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"normal equations not positive definite (posv info {info})")
    return x
