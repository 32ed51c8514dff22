"""The movies of every layout: titles, years, genres, tags, and bad lines."""
from __future__ import annotations

import pandas as pd
import pytest

from shared.data.errors import LoadError
from shared.data.movies import load_movies
from tests.unit.data.movielens_folders import (
    BUILDERS,
    U_ITEM,
    csv_folder,
    hetrec_folder,
    ml100k_folder,
    movie,
    write,
)


def test_csv_movies_titles_years_genres_tags(tmp_path):
    movies = load_movies(csv_folder(tmp_path))
    assert movie(movies, 1) == {"movie_id": 1, "title": "Toy Story", "year": 1995,
                                "genres": "Adventure|Animation|Children", "tags": "pixar|fun"}
    assert movie(movies, 2)["title"] == "American President, The"
    assert movie(movies, 2)["tags"] == "politics, romance"
    death_note = movie(movies, 3)
    assert (death_note["title"], death_note["year"]) == ("Death Note: Desu nôto", 2006)
    assert death_note["genres"] == "" and death_note["tags"] == "anime"
    babylon = movie(movies, 4)
    assert babylon["title"] == "Babylon 5" and pd.isna(babylon["year"]) and babylon["tags"] == ""
    assert (movie(movies, 5)["title"], movie(movies, 5)["year"]) == ("Runaway Brain", 1995)


def test_csv_without_tags_file_has_empty_tags(tmp_path):
    folder = csv_folder(tmp_path)
    (folder / "tags.csv").unlink()
    assert (load_movies(folder)["tags"] == "").all()


def test_ml100k_without_u_genre_uses_the_standard_list(tmp_path):
    with_list = load_movies(ml100k_folder(tmp_path / "a"))
    without = load_movies(ml100k_folder(tmp_path / "b", genre_file=False))
    pd.testing.assert_frame_equal(with_list, without)


def test_ml100k_genre_names_come_from_u_genre(tmp_path):
    folder = ml100k_folder(tmp_path)
    renamed = ["Nothing"] + [f"G{code}" for code in range(1, 19)]
    write(folder, "u.genre", "".join(f"{name}|{code}\n" for code, name in enumerate(renamed)))
    assert movie(load_movies(folder), 1)["genres"] == "G3|G4|G5"
    assert movie(load_movies(folder), 3)["genres"] == "Nothing"


def test_hetrec_movie_tags_need_tag_names(tmp_path):
    folder = hetrec_folder(tmp_path)
    (folder / "tags.dat").unlink()
    with pytest.raises(LoadError, match="tags.dat"):
        load_movies(folder)


@pytest.mark.parametrize("fmt, file, text, line, reason", [
    ("csv", "movies.csv", "movieId,title,genres\n1,A (1999),Drama\nfoo,B (2000),Drama\n", 3,
     "movieId 'foo' is not an integer"),
    ("csv", "movies.csv", "movieId,title,genres\n1,A (1999),Drama\n1,B (2000),Drama\n", 3,
     "movieId 1 appears twice"),
    ("csv", "movies.csv", "movieId,title,genres\n1,A (1999),Drama\n2,B (2000)\n", 3,
     "expected 3 fields (movieId, title, genres) separated by ',', got 2"),
    ("csv", "movies.csv", "movieId,title,genres\n1,A (1999),Drama,x\n", 2,
     "expected 3 fields (movieId, title, genres) separated by ',', got 4"),
    ("csv", "movies.csv", "id,title,genres\n1,A (1999),Drama\n", 1,
     "the header 'id,title,genres' lacks movieId"),
    ("csv", "tags.csv", "userId,movieId,tag,timestamp\n1,0,fun,5\n", 2,
     "movieId '0' is not positive"),
    ("ml-1m", "movies.dat", "1::A (1999)::Drama\n2::B (2000)\n", 2,
     "expected 3 fields (MovieID, Title, Genres) separated by '::', got 2"),
    ("ml-10m", "tags.dat", "1::2::fun::5\n1::x::fun::5\n", 2, "MovieID 'x' is not an integer"),
    ("ml-100k", "u.item", U_ITEM.replace("|0|0|0|1|1|1|", "|0|0|0|1|2|1|", 1), 1,
     "genre flag Children's '2' is not 0 or 1"),
    ("ml-100k", "u.item", "1|A (1999)|01-Jan-1999||url|1\n", 1,
     "expected 24 fields (movie id, movie title, release date, video release date, IMDb URL, "
     "unknown, Action, Adventure, Animation, Children's, Comedy, Crime, Documentary, Drama, "
     "Fantasy, Film-Noir, Horror, Musical, Mystery, Romance, Sci-Fi, Thriller, War, Western) "
     "separated by '|', got 6"),
    ("hetrec-2k", "movie_tags.dat", "movieID\ttagID\ttagWeight\n32\t3\t1\n32\t9\t1\n", 3,
     "tagID 9 is not in tags.dat"),
    ("hetrec-2k", "movie_genres.dat", "movieID\tgenre\n3\tComedy\n-3\tDrama\n", 3,
     "movieID '-3' is not positive"),
])
def test_bad_movie_and_tag_lines(tmp_path, fmt, file, text, line, reason):
    folder = write(BUILDERS[fmt](tmp_path), file, text)
    with pytest.raises(LoadError) as caught:
        load_movies(folder)
    assert (caught.value.path.name, caught.value.line, caught.value.reason) == (file, line, reason)
