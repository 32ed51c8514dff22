import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from shared.recsys.models.softmax import SoftmaxRegression, softmax_cost


def numerical_gradient(f, x, eps=1e-6):
    grad = np.empty_like(x)
    for j in range(len(x)):
        step = np.zeros_like(x)
        step[j] = eps
        grad[j] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_gradient_matches_finite_differences(fit_intercept):
    rng = np.random.default_rng(0)
    X = sp.random(25, 7, density=0.4, random_state=1, format="csr")
    y = rng.integers(0, 3, 25)
    k, d = 3, 7
    params = rng.normal(size=k * d + (k if fit_intercept else 0))
    cost, grad = softmax_cost(params, X, y, k, l2=0.1, fit_intercept=fit_intercept)
    expected = numerical_gradient(
        lambda p: softmax_cost(p, X, y, k, 0.1, fit_intercept)[0], params)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)


def test_cost_at_zero_is_log_k():
    # all scores 0: every class has probability 1/k, and a zero W has no penalty
    X = sp.random(10, 4, density=0.5, random_state=0, format="csr")
    cost, _ = softmax_cost(np.zeros(3 * 4 + 3), X, np.arange(10) % 3, 3, l2=5.0)
    assert cost == pytest.approx(np.log(3))


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [0, 0, 4.0, 0]])
    X = np.vstack([c + 0.5 * rng.normal(size=(30, 4)) for c in centres])
    return X, np.repeat(np.array([2, 5, 9]), 30)


def test_separable_data_is_learned_with_any_class_labels():
    X, y = blobs()
    model = SoftmaxRegression(l2=1e-3).fit(X, y)
    np.testing.assert_array_equal(model.classes_, [2, 5, 9])
    assert model.coef_.shape == (3, 4) and model.intercept_.shape == (3,)
    assert model.score(X, y) == 1.0
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X))
    X_new, y_new = blobs(seed=1)
    assert model.score(X_new, y_new) == 1.0


def test_sparse_and_dense_fits_agree():
    X, y = blobs()
    dense = SoftmaxRegression(l2=1e-2).fit(X, y)
    sparse = SoftmaxRegression(l2=1e-2).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, atol=1e-6)


def test_stronger_l2_shrinks_the_weights():
    X, y = blobs()
    weak = SoftmaxRegression(l2=1e-3).fit(X, y)
    strong = SoftmaxRegression(l2=1.0).fit(X, y)
    assert np.linalg.norm(strong.coef_) < np.linalg.norm(weak.coef_)


def test_clone_and_single_class():
    model = SoftmaxRegression(l2=0.5, max_iter=10, fit_intercept=False)
    assert clone(model).get_params() == model.get_params()
    only = clone(model).fit(np.eye(3), [7, 7, 7])
    np.testing.assert_array_equal(only.predict(np.ones((2, 3))), [7, 7])
    np.testing.assert_allclose(only.predict_proba(np.ones((2, 3))), 1.0)
