"""The rating scale, and ratings frames to sparse users x movies matrices."""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shared.recsys.vocabulary import Vocabulary

RATING_MIN = 0.5
RATING_MAX = 5.0
RATING_STEP = 0.5
# A rating of 4 or more is a favourite (seed 001); the same line makes a held-out rating
# relevant when lists are evaluated (DESIGN.md).
FAVOURITE_RATING = 4.0
FAVOURITE_HALF_STARS = int(FAVOURITE_RATING * 2)  # the Lua script counts in half stars

RATINGS_COLUMNS = ["user_id", "movie_id", "rating", "ts"]
MOVIES_COLUMNS = ["movie_id", "title", "year", "genres", "tags"]


def rating_matrix(ratings: pd.DataFrame, users: Vocabulary | None = None,
                  movies: Vocabulary | None = None):
    """Build the users x movies CSR matrix of ``ratings``.

    Returns ``(X, users, movies)``. Rows whose user or movie is not in a given vocabulary are
    dropped; when a user rated a movie twice, the latest rating (by ``ts``) wins.
    """
    users = users or Vocabulary(ratings["user_id"].to_numpy())
    movies = movies or Vocabulary(ratings["movie_id"].to_numpy())
    if "ts" in ratings and ratings.duplicated(["user_id", "movie_id"]).any():
        ratings = ratings.sort_values("ts", kind="stable").drop_duplicates(
            ["user_id", "movie_id"], keep="last")
    u = users.index(ratings["user_id"].to_numpy(), missing="negative")
    m = movies.index(ratings["movie_id"].to_numpy(), missing="negative")
    keep = (u >= 0) & (m >= 0)
    X = sp.csr_matrix(
        (ratings["rating"].to_numpy(dtype=np.float64)[keep], (u[keep], m[keep])),
        shape=(len(users), len(movies)),
    )
    X.sort_indices()
    return X, users, movies
