"""The rating scale, and ratings frames to sparse users x movies matrices."""
from __future__ import annotations

from collections.abc import Mapping

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


class LiveRatings(Mapping):
    """One user's ratings of this moment: the movies they rated or favoured and the rating of
    each, 0.0 when only favoured. Held as two arrays, ``movie_ids`` (distinct) and ``ratings``,
    which is what the estimators take, and read like a ``{movie_id: rating}`` mapping."""

    __slots__ = ("movie_ids", "ratings", "_by_movie")

    def __init__(self, movie_ids, ratings):
        self.movie_ids = np.asarray(movie_ids, dtype=np.int64)
        self.ratings = np.asarray(ratings, dtype=np.float64)
        if self.movie_ids.shape != self.ratings.shape or self.movie_ids.ndim != 1:
            raise ValueError("movie_ids and ratings must be 1-d arrays of one length")
        self._by_movie: dict[int, float] | None = None

    @classmethod
    def of(cls, ratings: Mapping) -> LiveRatings:
        """``ratings`` as LiveRatings: itself when it is one, else read from its items."""
        if isinstance(ratings, LiveRatings):
            return ratings
        return cls(np.fromiter(ratings.keys(), dtype=np.int64, count=len(ratings)),
                   np.fromiter(ratings.values(), dtype=np.float64, count=len(ratings)))

    def _mapping(self) -> dict[int, float]:
        if self._by_movie is None:
            self._by_movie = dict(zip(self.movie_ids.tolist(), self.ratings.tolist()))
        return self._by_movie

    def __getitem__(self, movie_id) -> float:
        return self._mapping()[movie_id]

    def __iter__(self):
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self.movie_ids)

    def __contains__(self, movie_id) -> bool:
        return movie_id in self._mapping()

    def __repr__(self) -> str:
        return f"LiveRatings({self._mapping()!r})"


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


def time_matrix(ratings: pd.DataFrame, users: Vocabulary, movies: Vocabulary) -> sp.csr_matrix:
    """The ``ts`` of each rating of :func:`rating_matrix` of the same frame and vocabularies
    (the same entries: each pair's latest), for what depends on when users rated."""
    # shifted by one second so that no time is 0, which a sparse matrix would not keep
    times, _, _ = rating_matrix(ratings.assign(rating=ratings["ts"].astype(np.float64) + 1.0),
                                users, movies)
    return times
