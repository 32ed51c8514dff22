import numpy as np
import pytest
import scipy.sparse as sp

from shared.recsys.models.features import (
    baseline_residuals,
    favourites,
    genre_averages,
    latent_factors,
    mean_centered,
    user_means,
)


@pytest.fixture
def X():
    # user 0 rated movies 0 and 2 (mean 4); user 1 rated movie 1 only (mean 2); user 2 nothing
    return sp.csr_matrix(np.array([[5.0, 0, 3.0], [0, 2.0, 0], [0, 0, 0]]))


def test_user_means_fall_back_to_the_global_mean(X):
    np.testing.assert_allclose(user_means(X), [4.0, 2.0, 10.0 / 3.0])
    np.testing.assert_allclose(user_means(X, default=0.0), [4.0, 2.0, 0.0])


def test_mean_centered_keeps_the_rated_pattern_and_an_exact_zero(X):
    C = mean_centered(X)
    assert sp.issparse(C)
    np.testing.assert_allclose(C.toarray(), [[1.0, 0, -1.0], [0, 0, 0], [0, 0, 0]])
    # user 1's only rating equals their mean: still stored, so "rated" stays visible
    assert C.nnz == X.nnz
    assert C[1].indices.tolist() == [1]


def test_mean_centered_with_given_means(X):
    C = mean_centered(X, means=np.array([3.0, 3.0, 3.0]))
    np.testing.assert_allclose(C.toarray(), [[2.0, 0, 0.0], [0, -1.0, 0], [0, 0, 0]])


def test_baseline_residuals_subtract_mu_bu_bi(X):
    R = baseline_residuals(X, 3.0, np.array([0.5, -1.0, 0.0]), np.array([0.25, 0.0, -0.5]))
    # 5 - (3 + .5 + .25), 3 - (3 + .5 - .5), 2 - (3 - 1 + 0)
    np.testing.assert_allclose(R.toarray(), [[1.25, 0, 0.0], [0, 0.0, 0], [0, 0, 0]])
    assert R.nnz == X.nnz


def test_favourites_are_ratings_of_four_or_more():
    X = sp.csr_matrix(np.array([[4.0, 3.5, 5.0], [0.5, 0, 4.5]]))
    F = favourites(X)
    np.testing.assert_array_equal(F.toarray(), [[1, 0, 1], [0, 0, 1]])
    assert F.nnz == 3
    np.testing.assert_array_equal(favourites(X, threshold=3.5).toarray(), [[1, 1, 1], [0, 0, 1]])


def test_genre_averages_by_hand():
    # movies: 0 romance, 1 sci-fi, 2 romance and sci-fi
    G = np.array([[1, 0], [0, 1], [1, 1]])
    X = sp.csr_matrix(np.array([[4.0, 2.0, 5.0],    # romance (4+5)/2, sci-fi (2+5)/2
                                [3.0, 0.0, 0.0]]))  # romance 3, no sci-fi at all
    avg = genre_averages(X, G)
    np.testing.assert_allclose(avg, [[4.5, 3.5], [3.0, 3.0]])  # user 1's own mean fills sci-fi
    avg_global = genre_averages(X, sp.csr_matrix(G), fill="global_mean")
    np.testing.assert_allclose(avg_global, [[4.5, 3.5], [3.0, 3.5]])  # (4+2+5+3)/4 = 3.5
    with pytest.raises(ValueError):
        genre_averages(X, G, fill="zero")
    with pytest.raises(ValueError):
        genre_averages(X, G[:2])


def test_latent_factors_from_svd_or_a_fitted_model():
    rng = np.random.default_rng(0)
    X = sp.random(30, 20, density=0.3, random_state=1, data_rvs=lambda n: rng.integers(1, 6, n))
    Z = latent_factors(X, n_components=4, random_state=0)
    assert Z.shape == (30, 4)
    np.testing.assert_allclose(Z, latent_factors(X, n_components=4, random_state=0))

    class Fitted:
        user_factors_ = np.arange(6.0).reshape(3, 2)

    np.testing.assert_array_equal(latent_factors(X, model=Fitted()), Fitted.user_factors_)
