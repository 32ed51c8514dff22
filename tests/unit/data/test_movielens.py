"""Loaders of every MovieLens layout, on small files written here, and on ml-latest-small."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.data import movielens
from shared.data.movielens import LoadError
from shared.recsys.ratings import MOVIES_COLUMNS, RATINGS_COLUMNS

from tests.conftest import ML_LATEST_SMALL as ML_LATEST_SMALL  # noqa: E402
FORMATS = ("csv", "ml-100k", "ml-1m", "ml-10m", "hetrec-2k")


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))
    return folder


def csv_folder(root: Path) -> Path:
    folder = root / "ml-latest-small"
    write(folder, "ratings.csv", "userId,movieId,rating,timestamp\n"
          "1,1,4.0,964982703\n1,3,0.5,964981247\n2,1,5,1445714994\n2,2,3.5,1445714995\n"
          "3,3,2.0,1000000000\n3,3,4.5,1000000100\n")
    write(folder, "movies.csv", "movieId,title,genres\n"
          "1,Toy Story (1995),Adventure|Animation|Children\n"
          '2,"American President, The (1995)",Comedy|Drama|Romance\n'
          "3,Death Note: Desu nôto (2006–2007),(no genres listed)\n"
          "4,Babylon 5,Sci-Fi\n"
          "5,Runaway Brain (1995) ,Animation\n")
    write(folder, "tags.csv", "userId,movieId,tag,timestamp\n"
          "2,1,pixar,1445714994\n3,1,fun,1445714995\n4,1,pixar,1445714996\n"
          '2,2,"politics, romance",1445714997\n2,3, anime ,1445714998\n')
    return folder


U_ITEM = (
    "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)"
    "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "2|Misérables, Les (1995)|01-Jan-1995||http://us.imdb.com/Les"
    "|0|0|0|0|0|0|0|0|1|0|0|0|1|0|1|0|0|1|0\n"
    "3|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "4|Heavenly Creatures|01-Jan-1994||http://us.imdb.com/H|0|0|0|0|0|0|0|0|1|1|0|0|0|0|0|0|0|0|0\n"
)


def ml100k_folder(root: Path, genre_file: bool = True) -> Path:
    folder = root / "ml-100k"
    write(folder, "u.data", "196\t1\t3\t881250949\n186\t2\t3\t891717742\n22\t3\t1\t878887116\n"
                            "196\t4\t5\t881250950\n")
    write(folder, "u.item", U_ITEM, "latin-1")
    if genre_file:
        write(folder, "u.genre", "".join(f"{name}|{code}\n"
                                         for code, name in enumerate(movielens.GENRES_100K)) + "\n")
    write(folder, "u1.base", "196\t1\t3\t881250949\n186\t2\t3\t891717742\n22\t3\t1\t878887116\n")
    write(folder, "u1.test", "196\t4\t5\t881250950\n")
    return folder


def ml1m_folder(root: Path) -> Path:
    folder = root / "ml-1m"
    write(folder, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    write(folder, "movies.dat", "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
                                "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
                                "1::Misérables, Les (1995)::Drama|Musical\n", "latin-1")
    write(folder, "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return folder


def ml10m_folder(root: Path) -> Path:
    folder = root / "ml-10m"
    write(folder, "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n2::122::0.5::868245777\n")
    write(folder, "movies.dat", "122::Boomerang (1992)::Comedy|Romance\n"
                                "185::Star Wars: Episode IV - A New Hope (1977)::(no genres listed)\n")
    write(folder, "tags.dat", "15::122::dark hero::1188263867\n20::185::space::1188263880\n"
                              "21::185::quote: it's a trap::1188263890\n22::185::space::1188263899\n")
    return folder


HETREC_MOVIE_COLUMNS = ("id\ttitle\timdbID\tspanishTitle\timdbPictureURL\tyear\trtID\t"
                        "rtAllCriticsRating\n")


def hetrec_folder(root: Path) -> Path:
    folder = root / "hetrec2011-movielens-2k"
    write(folder, "user_ratedmovies.dat",
          "userID\tmovieID\trating\tdate_day\tdate_month\tdate_year\tdate_hour\tdate_minute\tdate_second\n"
          "75\t3\t1\t29\t10\t2006\t23\t17\t16\n"
          "75\t32\t4.5\t29\t10\t2006\t23\t23\t44\n"
          "78\t3\t3.5\t1\t1\t1970\t0\t0\t0\n")
    write(folder, "movies.dat", HETREC_MOVIE_COLUMNS +
          "3\tGrumpy Old Men\t107050\tDos viejos gruñones\thttp://x/y.jpg\t1993\tgrumpy_old_men\t5.9\n"
          "32\tTwelve Monkeys\t114746\tDoce monos\thttp://x/z.jpg\t\\N\ttwelve_monkeys\t7.4\n",
          "latin-1")
    write(folder, "movie_genres.dat", "movieID\tgenre\n3\tComedy\n3\tRomance\n32\tSci-Fi\n")
    write(folder, "tags.dat", "id\tvalue\n1\tearth\n2\ttime travel\n3\tbleak\n")
    write(folder, "movie_tags.dat", "movieID\ttagID\ttagWeight\n32\t3\t1\n32\t2\t4\n3\t1\t2\n")
    return folder


BUILDERS = {"csv": csv_folder, "ml-100k": ml100k_folder, "ml-1m": ml1m_folder,
            "ml-10m": ml10m_folder, "hetrec-2k": hetrec_folder}


def movie(movies: pd.DataFrame, movie_id: int) -> dict:
    rows = movies[movies["movie_id"] == movie_id]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


# --------------------------------------------------------------------------- every format

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


def test_csv_ratings_keep_duplicates_and_half_stars(tmp_path):
    ratings = movielens.load(csv_folder(tmp_path)).ratings
    assert len(ratings) == 6
    assert ratings.duplicated(["user_id", "movie_id"]).sum() == 1
    assert ratings["rating"].tolist() == [4.0, 0.5, 5.0, 3.5, 2.0, 4.5]
    assert ratings["ts"].tolist()[:2] == [964982703, 964981247]


def test_csv_movies_titles_years_genres_tags(tmp_path):
    movies = movielens.load_movies(csv_folder(tmp_path))
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
    assert (movielens.load_movies(folder)["tags"] == "").all()


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
    assert (movie(data.movies, 4)["title"], movie(data.movies, 4)["year"]) == ("Heavenly Creatures", 1994)


def test_ml100k_without_u_genre_uses_the_standard_list(tmp_path):
    with_list = movielens.load_movies(ml100k_folder(tmp_path / "a"))
    without = movielens.load_movies(ml100k_folder(tmp_path / "b", genre_file=False))
    pd.testing.assert_frame_equal(with_list, without)


def test_ml100k_genre_names_come_from_u_genre(tmp_path):
    folder = ml100k_folder(tmp_path)
    renamed = ["Nothing"] + [f"G{code}" for code in range(1, 19)]
    write(folder, "u.genre", "".join(f"{name}|{code}\n" for code, name in enumerate(renamed)))
    assert movie(movielens.load_movies(folder), 1)["genres"] == "G3|G4|G5"
    assert movie(movielens.load_movies(folder), 3)["genres"] == "Nothing"


def test_ml100k_fold_returns_train_and_test(tmp_path):
    folder = ml100k_folder(tmp_path)
    train, test = movielens.ml100k_fold(folder, "u1")
    assert list(train.columns) == RATINGS_COLUMNS == list(test.columns)
    assert train["movie_id"].tolist() == [1, 2, 3] and test["movie_id"].tolist() == [4]
    assert test["rating"].tolist() == [5.0] and test["ts"].tolist() == [881250950]
    everything = pd.concat([train, test], ignore_index=True)
    pd.testing.assert_frame_equal(everything, movielens.load(folder).ratings)


def test_ml100k_fold_errors(tmp_path):
    folder = ml100k_folder(tmp_path)
    with pytest.raises(ValueError, match="u1, u2, u3, u4, u5, ua, ub"):
        movielens.ml100k_fold(folder, "u6")
    with pytest.raises(LoadError, match="ua.base"):
        movielens.ml100k_fold(folder, "ua")
    with pytest.raises(LoadError, match="only in ml-100k"):
        movielens.ml100k_fold(csv_folder(tmp_path), "u1")


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


def test_ml1m_and_ml10m_are_told_apart_by_their_extra_file(tmp_path):
    folder = ml10m_folder(tmp_path)
    write(folder, "users.dat", "1::F::1::10::48067\n")
    assert movielens.detect_format(folder) == "ml-10m"
    (folder / "tags.dat").unlink()
    assert movielens.detect_format(folder) == "ml-1m"


def test_hetrec_dates_genres_weighted_tags_and_latin1(tmp_path):
    data = movielens.load(hetrec_folder(tmp_path))
    utc = [datetime(2006, 10, 29, 23, 17, 16), datetime(2006, 10, 29, 23, 23, 44), datetime(1970, 1, 1)]
    assert data.ratings["ts"].tolist() == [int(t.replace(tzinfo=timezone.utc).timestamp()) for t in utc]
    assert data.ratings["rating"].tolist() == [1.0, 4.5, 3.5]
    grumpy = movie(data.movies, 3)
    assert grumpy == {"movie_id": 3, "title": "Grumpy Old Men", "year": 1993,
                      "genres": "Comedy|Romance", "tags": "earth"}
    monkeys = movie(data.movies, 32)
    assert pd.isna(monkeys["year"]) and monkeys["genres"] == "Sci-Fi"
    assert monkeys["tags"] == "time travel|bleak"  # heaviest tag first


def test_hetrec_movie_tags_need_tag_names(tmp_path):
    folder = hetrec_folder(tmp_path)
    (folder / "tags.dat").unlink()
    with pytest.raises(LoadError, match="tags.dat"):
        movielens.load_movies(folder)


# --------------------------------------------------------------------------- chunks, progress

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("chunksize", [1, 2])
def test_chunked_iteration_matches_load(tmp_path, fmt, chunksize):
    folder = BUILDERS[fmt](tmp_path)
    chunks = list(movielens.iter_ratings(folder, chunksize=chunksize))
    assert all(len(chunk) <= chunksize for chunk in chunks)
    assert all(list(chunk.columns) == RATINGS_COLUMNS for chunk in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), movielens.load(folder).ratings)


def test_blank_lines_are_skipped_but_counted(tmp_path):
    folder = csv_folder(tmp_path)
    write(folder, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n\n2,1,3,2\n\n2,2,9,3\n")
    with pytest.raises(LoadError) as caught:
        list(movielens.iter_ratings(folder, chunksize=2))
    assert caught.value.line == 6
    write(folder, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n\n2,1,3,2\n")
    assert movielens.load(folder).ratings["user_id"].tolist() == [1, 2]


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    folder = csv_folder(tmp_path)
    quiet = movielens.load(folder).ratings
    assert capsys.readouterr().err == ""
    pd.testing.assert_frame_equal(movielens.load(folder, progress=True).ratings, quiet)
    assert "ratings.csv" in capsys.readouterr().err


def test_empty_ratings_file_gives_an_empty_typed_frame(tmp_path):
    folder = csv_folder(tmp_path)
    write(folder, "ratings.csv", "userId,movieId,rating,timestamp\n")
    ratings = movielens.load(folder).ratings
    assert len(ratings) == 0 and [str(t) for t in ratings.dtypes] == ["int64", "int64", "float64", "int64"]


def test_chunksize_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="chunksize"):
        movielens.iter_ratings(csv_folder(tmp_path), chunksize=0)


# --------------------------------------------------------------------------- malformed input

CSV_HEADER = "userId,movieId,rating,timestamp\n"
GOOD_CSV = "1,1,4.0,964982703\n1,3,4.0,964981247\n"


@pytest.mark.parametrize("bad_line, reason", [
    ("1,2,3.5", "expected 4 fields (userId, movieId, rating, timestamp) separated by ',', got 3"),
    ("1,2,3.5,100,9", "expected 4 fields (userId, movieId, rating, timestamp) separated by ',', got 5"),
    ("x,2,3.5,100", "userId 'x' is not an integer"),
    ("1,2.5,3.5,100", "movieId '2.5' is not an integer"),
    ("0,2,3.5,100", "userId '0' is not positive"),
    ("1,-4,3.5,100", "movieId '-4' is not positive"),
    ("1,,3.5,100", "movieId is empty"),
    ("1,2,good,100", "rating 'good' is not a number"),
    ("1,2,7.5,100", "rating '7.5' is not between 0.5 and 5"),
    ("1,2,0,100", "rating '0' is not between 0.5 and 5"),
    ("1,2,3.7,100", "rating '3.7' is not a multiple of 0.5"),
    ("1,2,3.5,yesterday", "timestamp 'yesterday' is not an integer"),
    ("1,2,3.5,12.5", "timestamp '12.5' is not an integer"),
    ("1,2,3.5,-5", "timestamp '-5' is negative"),
])
@pytest.mark.parametrize("chunksize", [1, 2, 1_000_000])
def test_bad_csv_rating_lines_name_file_line_and_reason(tmp_path, bad_line, reason, chunksize):
    folder = csv_folder(tmp_path)
    write(folder, "ratings.csv", CSV_HEADER + GOOD_CSV * 2 + bad_line + "\n" + GOOD_CSV)
    with pytest.raises(LoadError) as caught:
        list(movielens.iter_ratings(folder, chunksize=chunksize))
    error = caught.value
    assert error.path == folder / "ratings.csv"
    assert (error.line, error.reason) == (6, reason)
    assert str(error) == f"{folder / 'ratings.csv'} line 6: {reason}"


def test_the_first_bad_line_wins_even_before_a_line_with_too_many_fields(tmp_path):
    folder = csv_folder(tmp_path)
    write(folder, "ratings.csv", CSV_HEADER + GOOD_CSV + "1,2,9,100\n" + GOOD_CSV + "1,2,3,4,5\n")
    with pytest.raises(LoadError) as caught:
        movielens.load(folder)
    assert caught.value.line == 4 and "rating '9'" in caught.value.reason


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
    assert caught.value.reason.startswith("expected ") and caught.value.reason.endswith(f", got {got}")


def test_wrong_csv_header(tmp_path):
    folder = csv_folder(tmp_path)
    write(folder, "ratings.csv", "user,movie,rating,timestamp\n" + GOOD_CSV)
    with pytest.raises(LoadError) as caught:
        movielens.load(folder)
    assert caught.value.line == 1 and "userId,movieId,rating,timestamp" in caught.value.reason


@pytest.mark.parametrize("fmt, file, text, line, reason", [
    ("ml-100k", "u.data", "1\t2\t3\t4\n1\t2\t3.5\t4\n", 2, "rating '3.5' is not a whole number"),
    ("ml-100k", "u.data", "1\t2\t3\t4\n1 2 3 4\n", 2,
     "expected 4 fields (user id, item id, rating, timestamp) separated by '\\t', got 1"),
    ("ml-1m", "ratings.dat", "1::2::3::4\n1::2::3\n", 2,
     "expected 4 fields (UserID, MovieID, Rating, Timestamp) separated by '::', got 3"),
    ("ml-1m", "ratings.dat", "1::2::3::4\n1:2::3::4\n", 2,
     "expected 4 fields (UserID, MovieID, Rating, Timestamp) separated by '::', got 3"),
    ("ml-1m", "ratings.dat", "1::2::3::4\n1::2::0::4\n", 2, "Rating '0' is not between 1 and 5"),
    ("ml-1m", "ratings.dat", "1::2::3::4\n1::2::4.5::4\n", 2, "Rating '4.5' is not a whole number"),
    ("ml-10m", "ratings.dat", "1::2::3::4\n1::2::3::4::5\n", 2,
     "expected 4 fields (UserID, MovieID, Rating, Timestamp) separated by '::', got 5"),
    ("ml-10m", "ratings.dat", "1::2::3::4\n1::2::5.5::4\n", 2, "Rating '5.5' is not between 0.5 and 5"),
    ("hetrec-2k", "user_ratedmovies.dat",
     "userID\tmovieID\trating\tdate_day\tdate_month\tdate_year\tdate_hour\tdate_minute\tdate_second\n"
     "75\t3\t1\t29\t10\t2006\t23\t17\t16\n75\t3\t1\t31\t4\t2006\t23\t17\t16\n", 3,
     "date '2006-4-31 23:17:16' is not a valid date"),
    ("hetrec-2k", "user_ratedmovies.dat",
     "userID\tmovieID\trating\tdate_day\tdate_month\tdate_year\tdate_hour\tdate_minute\tdate_second\n"
     "75\t3\t1\t29\t10\t2006\t24\t17\t16\n", 2, "date '2006-10-29 24:17:16' is not a valid date"),
    ("hetrec-2k", "user_ratedmovies.dat",
     "userID\tmovieID\trating\tdate_day\tdate_month\tdate_year\tdate_hour\tdate_minute\tdate_second\n"
     "75\t3\t1\tx\t10\t2006\t23\t17\t16\n", 2, "date_day 'x' is not an integer"),
])
def test_bad_rating_lines_in_other_formats(tmp_path, fmt, file, text, line, reason):
    folder = write(BUILDERS[fmt](tmp_path), file, text)
    with pytest.raises(LoadError) as caught:
        movielens.load(folder)
    assert (caught.value.path.name, caught.value.line, caught.value.reason) == (file, line, reason)


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
    ("csv", "tags.csv", "userId,movieId,tag,timestamp\n1,0,fun,5\n", 2, "movieId '0' is not positive"),
    ("ml-1m", "movies.dat", "1::A (1999)::Drama\n2::B (2000)\n", 2,
     "expected 3 fields (MovieID, Title, Genres) separated by '::', got 2"),
    ("ml-10m", "tags.dat", "1::2::fun::5\n1::x::fun::5\n", 2, "MovieID 'x' is not an integer"),
    ("ml-100k", "u.item", U_ITEM.replace("|0|0|0|1|1|1|", "|0|0|0|1|2|1|", 1), 1,
     "genre flag Children's '2' is not 0 or 1"),
    ("ml-100k", "u.item", "1|A (1999)|01-Jan-1999||url|1\n", 1,
     "expected 24 fields (movie id, movie title, release date, video release date, IMDb URL, unknown, "
     "Action, Adventure, Animation, Children's, Comedy, Crime, Documentary, Drama, Fantasy, Film-Noir, "
     "Horror, Musical, Mystery, Romance, Sci-Fi, Thriller, War, Western) separated by '|', got 6"),
    ("hetrec-2k", "movie_tags.dat", "movieID\ttagID\ttagWeight\n32\t3\t1\n32\t9\t1\n", 3,
     "tagID 9 is not in tags.dat"),
    ("hetrec-2k", "movie_genres.dat", "movieID\tgenre\n3\tComedy\n-3\tDrama\n", 3,
     "movieID '-3' is not positive"),
])
def test_bad_movie_and_tag_lines(tmp_path, fmt, file, text, line, reason):
    folder = write(BUILDERS[fmt](tmp_path), file, text)
    with pytest.raises(LoadError) as caught:
        movielens.load_movies(folder)
    assert (caught.value.path.name, caught.value.line, caught.value.reason) == (file, line, reason)


def test_bad_line_in_a_later_chunk_is_counted_from_the_file_start(tmp_path):
    folder = csv_folder(tmp_path)
    write(folder, "ratings.csv", CSV_HEADER + GOOD_CSV * 5 + "1,1,4,1,1\n")
    chunks = movielens.iter_ratings(folder, chunksize=3)
    with pytest.raises(LoadError) as caught:
        for _ in chunks:
            pass
    assert caught.value.line == 12 and caught.value.reason.endswith("got 5")


# --------------------------------------------------------------------------- unknown folders

def test_unknown_folder_lists_the_formats_and_their_files(tmp_path):
    write(tmp_path, "notes.txt", "hello")
    with pytest.raises(LoadError) as caught:
        movielens.load(tmp_path)
    message = str(caught.value)
    assert "notes.txt" in message
    for fmt in FORMATS:
        assert fmt in message
    for needed in ("ratings.csv", "movies.csv", "u.data", "u.item", "ratings.dat", "movies.dat",
                   "users.dat", "tags.dat", "user_ratedmovies.dat"):
        assert needed in message


def test_missing_folder_says_so_and_lists_the_formats(tmp_path):
    with pytest.raises(LoadError, match="no such folder") as caught:
        movielens.detect_format(tmp_path / "nowhere")
    assert all(fmt in str(caught.value) for fmt in FORMATS)
    assert caught.value.line is None


def test_a_lone_ratings_dat_is_not_guessed(tmp_path):
    write(tmp_path, "ratings.dat", "1::2::3::4\n")
    write(tmp_path, "movies.dat", "2::A (1999)::Drama\n")
    with pytest.raises(LoadError, match="users.dat"):
        movielens.detect_format(tmp_path)


# --------------------------------------------------------------------------- real data

def test_ml_latest_small():
    if not ML_LATEST_SMALL.is_dir():
        pytest.skip(f"ml-latest-small not found at {ML_LATEST_SMALL.resolve()}")
    data = movielens.load(ML_LATEST_SMALL)
    assert data.format == "csv"
    assert len(data.ratings) == 100_836
    assert len(data.movies) == 9_742
    assert data.ratings["user_id"].nunique() == 610
    assert data.ratings["rating"].isin(np.arange(1, 11) / 2).all()
    assert "funny" in movie(data.movies, 60756)["tags"].split("|")
    assert (data.movies["tags"] != "").sum() > 1_000
    assert data.movies["movie_id"].is_unique
    assert movie(data.movies, 1)["title"] == "Toy Story" and movie(data.movies, 1)["year"] == 1995
