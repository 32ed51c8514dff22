"""The public entry point: every MovieLens layout loads into the shared columns, and
ml-latest-small."""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from shared.data import movielens
from shared.data.movielens import LoadError
from shared.recsys.ratings import MOVIES_COLUMNS, RATINGS_COLUMNS
from tests.unit.data.movielens_folders import (
    BUILDERS,
    CSV_HEADER,
    FORMATS,
    GOOD_CSV,
    hetrec_folder,
    ml1m_folder,
    ml10m_folder,
    ml100k_folder,
    movie,
    write,
)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_detected_and_loads_the_shared_columns(tmp_path, fmt):
    folder = BUILDERS[fmt](tmp_path)
    assert movielens.detect_format(folder) == fmt
    data = movielens.load(folder)
    assert data.format == fmt
    assert list(data.ratings.columns) == RATINGS_COLUMNS
    assert list(data.movies.columns) == MOVIES_COLUMNS
    assert [str(t) for t in data.ratings.dtypes] == ["int64", "int64", "float64", "int64"]
    assert data.movies["movie_id"].dtype == np.int64
    assert str(data.movies["year"].dtype) == "Int64"
    for column in ("title", "genres", "tags"):
        assert pd.api.types.is_string_dtype(data.movies[column])
        assert data.movies[column].notna().all()
    assert data.ratings["rating"].between(0.5, 5).all()


def test_ml100k_latin1_items_and_flag_genres(tmp_path):
    data = movielens.load(ml100k_folder(tmp_path))
    assert data.ratings["rating"].tolist() == [3.0, 3.0, 1.0, 5.0]
    assert data.ratings["user_id"].tolist() == [196, 186, 22, 196]
    les = movie(data.movies, 2)
    assert (les["title"], les["year"]) == ("Misérables, Les", 1995)
    assert les["genres"] == "Drama|Musical|Romance|War"
    assert movie(data.movies, 1)["genres"] == "Animation|Children's|Comedy"
    unknown = movie(data.movies, 3)
    assert unknown["title"] == "unknown" and unknown["genres"] == "" and pd.isna(unknown["year"])
    # no year in the title: taken from the release date
    no_year = movie(data.movies, 4)
    assert (no_year["title"], no_year["year"]) == ("Heavenly Creatures", 1994)


def test_ml1m_double_colon_files_in_latin1(tmp_path):
    data = movielens.load(ml1m_folder(tmp_path))
    assert data.ratings.values.tolist() == [[1, 1193, 5, 978300760], [1, 661, 3, 978302109],
                                            [2, 1193, 4, 978298413]]
    assert movie(data.movies, 1)["title"] == "Misérables, Les"
    assert movie(data.movies, 661)["genres"] == "Animation|Children's|Musical"
    assert (data.movies["tags"] == "").all()


def test_ml10m_half_stars_and_tags(tmp_path):
    data = movielens.load(ml10m_folder(tmp_path))
    assert data.ratings["rating"].tolist() == [5.0, 4.5, 0.5]
    star_wars = movie(data.movies, 185)
    assert star_wars["title"] == "Star Wars: Episode IV - A New Hope" and star_wars["year"] == 1977
    assert star_wars["genres"] == ""
    assert star_wars["tags"] == "space|quote: it's a trap"
    assert movie(data.movies, 122)["tags"] == "dark hero"


def test_hetrec_dates_genres_weighted_tags_and_latin1(tmp_path):
    data = movielens.load(hetrec_folder(tmp_path))
    utc = [datetime(2006, 10, 29, 23, 17, 16), datetime(2006, 10, 29, 23, 23, 44),
           datetime(1970, 1, 1)]
    assert data.ratings["ts"].tolist() == [int(t.replace(tzinfo=UTC).timestamp()) for t in utc]
    assert data.ratings["rating"].tolist() == [1.0, 4.5, 3.5]
    grumpy = movie(data.movies, 3)
    assert grumpy == {"movie_id": 3, "title": "Grumpy Old Men", "year": 1993,
                      "genres": "Comedy|Romance", "tags": "earth"}
    monkeys = movie(data.movies, 32)
    assert pd.isna(monkeys["year"]) and monkeys["genres"] == "Sci-Fi"
    assert monkeys["tags"] == "time travel|bleak"  # heaviest tag first


@pytest.mark.parametrize("fmt, file, text, line, got", [
    ("csv", "ratings.csv", CSV_HEADER + "1,2,3.5,100,9\n" + GOOD_CSV, 2, 5),
    ("ml-1m", "ratings.dat", "1::2::3::4::5\n1::2::3::4\n", 1, 5),
    ("hetrec-2k", "movie_genres.dat", "movieID\tgenre\n3\tComedy\tDrama\n", 2, 3),
    ("csv", "movies.csv", "movieId,title,genres\n1,A (1999),Drama,x\n", 2, 4),
])
def test_extra_fields_on_the_first_line_are_not_dropped(tmp_path, fmt, file, text, line, got):
    folder = write(BUILDERS[fmt](tmp_path), file, text)
    with pytest.raises(LoadError) as caught:
        movielens.load(folder)
    assert (caught.value.path.name, caught.value.line) == (file, line)
    assert caught.value.reason.startswith("expected ")
    assert caught.value.reason.endswith(f", got {got}")


def test_ml_latest_small(ml_latest_small):
    data = movielens.load(ml_latest_small)
    assert data.format == "csv"
    assert len(data.ratings) == 100_836
    assert len(data.movies) == 9_742
    assert data.ratings["user_id"].nunique() == 610
    assert data.ratings["rating"].isin(np.arange(1, 11) / 2).all()
    assert "funny" in movie(data.movies, 60756)["tags"].split("|")
    assert (data.movies["tags"] != "").sum() > 1_000
    assert data.movies["movie_id"].is_unique
    assert movie(data.movies, 1)["title"] == "Toy Story" and movie(data.movies, 1)["year"] == 1995
