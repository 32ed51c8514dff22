"""Softmax regression as seed 000 trains it: UFLDL's cost, L-BFGS-B, sparse inputs."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin

from shared.recsys.blas import one_blas_thread


def softmax_cost(params: np.ndarray, X, y: np.ndarray, n_classes: int, l2: float,
                 fit_intercept: bool = True) -> tuple[float, np.ndarray]:
    r"""Cost and gradient of L2-regularised softmax regression, vectorised.

    ``params`` is ``W`` (k x d, row-major) followed by ``b`` (k) when ``fit_intercept``;
    ``y`` holds class indices 0..k-1.

    .. math::
        J = -\frac1m \sum_i \log p(y_i \mid x_i) + \frac{\lambda}{2}\lVert W\rVert^2, \qquad
        \nabla_W J = \frac1m (P - Y)^\top X + \lambda W, \qquad
        \nabla_b J = \frac1m \sum_i (P - Y)_i
    """
    m, d = X.shape
    W = params[: n_classes * d].reshape(n_classes, d)
    scores = np.asarray(X @ W.T)
    if fit_intercept:
        scores = scores + params[n_classes * d:]
    log_p = log_softmax(scores, axis=1)
    rows = np.arange(m)
    cost = -log_p[rows, y].sum() / m + 0.5 * l2 * float(np.sum(W * W))
    residual = np.exp(log_p)
    residual[rows, y] -= 1.0
    grad_W = np.asarray(X.T @ residual).T / m + l2 * W
    grad = [grad_W.ravel()]
    if fit_intercept:
        grad.append(residual.sum(axis=0) / m)
    return float(cost), np.concatenate(grad)


class SoftmaxRegression(ClassifierMixin, BaseEstimator):
    r"""Multinomial logistic regression with an L2 penalty, trained by L-BFGS-B (seed 000).

    .. math::
        p(y = j \mid x) = \frac{e^{w_j \cdot x + b_j}}{\sum_l e^{w_l \cdot x + b_l}}

    fitted by minimising :func:`softmax_cost`. Works on sparse rows (mean-centred rating
    vectors) without densifying them.

    Parameters
    ----------
    l2 : float
        :math:`\lambda`, the weight decay of UFLDL's cost; the intercepts are not penalised.
    max_iter : int
        Most L-BFGS-B iterations.
    tol : float
        L-BFGS-B's ``ftol`` and ``gtol``: stop when the cost or the gradient stops moving.
    fit_intercept : bool
        Learn a bias ``b_j`` per class.
    """

    def __init__(self, l2: float = 1e-3, max_iter: int = 200, tol: float = 1e-6,
                 fit_intercept: bool = True):
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        X = sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else np.asarray(X, np.float64)
        self.classes_, y_index = np.unique(np.asarray(y), return_inverse=True)
        k, d = len(self.classes_), X.shape[1]
        self.n_features_in_ = d
        params = np.zeros(k * d + (k if self.fit_intercept else 0))
        if k > 1:
            # L-BFGS-B's many small vector operations run several times slower when BLAS
            # spreads them over threads; one thread is fastest.
            with one_blas_thread():
                result = minimize(softmax_cost, params, jac=True, method="L-BFGS-B",
                                  args=(X, y_index, k, self.l2, self.fit_intercept),
                                  options={"maxiter": self.max_iter, "ftol": self.tol,
                                           "gtol": self.tol})
            params = result.x
            self.n_iter_ = int(result.nit)
        else:
            self.n_iter_ = 0
        self.coef_ = params[: k * d].reshape(k, d)
        self.intercept_ = params[k * d:] if self.fit_intercept else np.zeros(k)
        return self

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        return np.exp(log_softmax(self.decision_function(X), axis=1))

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]
