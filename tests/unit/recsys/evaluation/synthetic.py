"""A ratings frame with real structure, for the harness tests."""
import numpy as np
import pandas as pd


def synthetic_ratings(n_users=60, n_movies=40, per_user=15, seed=0) -> pd.DataFrame:
    """Ratings with real structure (user and movie biases), so a fitted model beats chance."""
    rng = np.random.default_rng(seed)
    user_bias, movie_bias = rng.normal(0, 0.7, n_users), rng.normal(0, 0.7, n_movies)
    users = np.repeat(np.arange(n_users), per_user)
    movies = np.concatenate([rng.choice(n_movies, per_user, replace=False) for _ in range(n_users)])
    raw = 3.5 + user_bias[users] + movie_bias[movies] + rng.normal(0, 0.3, len(users))
    return pd.DataFrame({"user_id": users + 1, "movie_id": movies + 1,
                         "rating": np.clip(np.round(raw * 2) / 2, 0.5, 5.0),
                         "ts": rng.integers(0, 10_000, len(users))})
