"""Read any MovieLens release into one ratings frame and one movies frame.

GroupLens published MovieLens in five layouts; :func:`detect_format` tells them apart by the
files a folder holds, and every loader returns the columns of :mod:`shared.recsys.ratings`:
ratings ``user_id, movie_id, rating, ts`` (int64, int64, float64, int64 unix seconds) and
movies ``movie_id, title, year, genres, tags`` (title without its "(1995)", nullable year,
'|'-joined genres and distinct tags, '' when none).

Input is checked column-wise, chunk by chunk; the first bad line fails with a
:class:`LoadError` naming the file, the line and what is wrong. Ratings are read in chunks,
so :func:`iter_ratings` runs in bounded memory even on ml-25m.

This module is the entry point; the work is done in :mod:`shared.data.formats`,
:mod:`shared.data.ratings_reader` and :mod:`shared.data.movies`.
"""
from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from shared.data.errors import LoadError
from shared.data.formats import detect_format
from shared.data.movies import GENRES_100K, load_movies
from shared.data.ratings_reader import FOLDS_100K, iter_ratings, load_ratings, ml100k_fold

__all__ = ["FOLDS_100K", "GENRES_100K", "LoadError", "MovieLens", "detect_format", "iter_ratings",
           "load", "load_movies", "load_ratings", "ml100k_fold"]


class MovieLens(NamedTuple):
    ratings: pd.DataFrame
    movies: pd.DataFrame
    format: str


def load(path, progress: bool = False) -> MovieLens:
    """Ratings and movies of the MovieLens folder ``path``, whatever its layout."""
    fmt = detect_format(path)
    return MovieLens(load_ratings(path, progress=progress), load_movies(path), fmt)
