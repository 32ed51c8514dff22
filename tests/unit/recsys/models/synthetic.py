"""Small rating matrices with known structure, for the estimator tests."""
import numpy as np
import scipy.sparse as sp


def low_rank_ratings(n_users=150, n_items=100, rank=3, density=0.35, noise=0.2, seed=0):
    """Ratings ``mu + b_u + b_i + p_u . q_i + noise`` on half stars, split 80/20 at random:
    ``(X_train, (test_users, test_items, test_ratings))``."""
    rng = np.random.default_rng(seed)
    P, Q = rng.normal(0, 0.6, (n_users, rank)), rng.normal(0, 0.6, (n_items, rank))
    truth = 3.4 + rng.normal(0, 0.4, (n_users, 1)) + rng.normal(0, 0.4, (1, n_items)) + P @ Q.T
    ratings = np.clip(np.round(2 * (truth + rng.normal(0, noise, truth.shape))) / 2, 0.5, 5.0)
    users, items = np.nonzero(rng.random(truth.shape) < density)
    train = rng.random(len(users)) < 0.8
    X = sp.csr_matrix((ratings[users[train], items[train]], (users[train], items[train])),
                      shape=truth.shape)
    return X, (users[~train], items[~train], ratings[users[~train], items[~train]])


def rmse(model, test):
    users, items, ratings = test
    return float(np.sqrt(np.mean((model.predict(users, items) - ratings) ** 2)))
