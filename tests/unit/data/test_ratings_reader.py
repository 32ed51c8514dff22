"""The ratings reader: every layout, chunks, progress, and bad lines named by file and line."""
from __future__ import annotations

import pandas as pd
import pytest

from shared.data import movielens
from shared.data.errors import LoadError
from shared.data.ratings_reader import iter_ratings, ml100k_fold
from shared.recsys.ratings import RATINGS_COLUMNS
from tests.unit.data.movielens_folders import (
    BUILDERS,
    CSV_HEADER,
    FORMATS,
    GOOD_CSV,
    csv_folder,
    ml100k_folder,
    write,
)


def test_csv_ratings_keep_duplicates_and_half_stars(tmp_path):
    ratings = movielens.load(csv_folder(tmp_path)).ratings
    assert len(ratings) == 6
    assert ratings.duplicated(["user_id", "movie_id"]).sum() == 1
    assert ratings["rating"].tolist() == [4.0, 0.5, 5.0, 3.5, 2.0, 4.5]
    assert ratings["ts"].tolist()[:2] == [964982703, 964981247]


def test_ml100k_fold_returns_train_and_test(tmp_path):
    folder = ml100k_folder(tmp_path)
    train, test = ml100k_fold(folder, "u1")
    assert list(train.columns) == RATINGS_COLUMNS == list(test.columns)
    assert train["movie_id"].tolist() == [1, 2, 3] and test["movie_id"].tolist() == [4]
    assert test["rating"].tolist() == [5.0] and test["ts"].tolist() == [881250950]
    everything = pd.concat([train, test], ignore_index=True)
    pd.testing.assert_frame_equal(everything, movielens.load(folder).ratings)


def test_ml100k_fold_errors(tmp_path):
    folder = ml100k_folder(tmp_path)
    with pytest.raises(ValueError, match="u1, u2, u3, u4, u5, ua, ub"):
        ml100k_fold(folder, "u6")
    with pytest.raises(LoadError, match="ua.base"):
        ml100k_fold(folder, "ua")
    with pytest.raises(LoadError, match="only in ml-100k"):
        ml100k_fold(csv_folder(tmp_path), "u1")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("chunksize", [1, 2])
def test_chunked_iteration_matches_load(tmp_path, fmt, chunksize):
    folder = BUILDERS[fmt](tmp_path)
    chunks = list(iter_ratings(folder, chunksize=chunksize))
    assert all(len(chunk) <= chunksize for chunk in chunks)
    assert all(list(chunk.columns) == RATINGS_COLUMNS for chunk in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True),
                                  movielens.load(folder).ratings)


def test_blank_lines_are_skipped_but_counted(tmp_path):
    folder = csv_folder(tmp_path)
    write(folder, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n\n2,1,3,2\n\n2,2,9,3\n")
    with pytest.raises(LoadError) as caught:
        list(iter_ratings(folder, chunksize=2))
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
    assert len(ratings) == 0
    assert [str(t) for t in ratings.dtypes] == ["int64", "int64", "float64", "int64"]


def test_chunksize_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="chunksize"):
        iter_ratings(csv_folder(tmp_path), chunksize=0)


@pytest.mark.parametrize("bad_line, reason", [
    ("1,2,3.5", "expected 4 fields (userId, movieId, rating, timestamp) separated by ',', got 3"),
    ("1,2,3.5,100,9",
     "expected 4 fields (userId, movieId, rating, timestamp) separated by ',', got 5"),
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
        list(iter_ratings(folder, chunksize=chunksize))
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
    ("ml-10m", "ratings.dat", "1::2::3::4\n1::2::5.5::4\n", 2,
     "Rating '5.5' is not between 0.5 and 5"),
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


def test_bad_line_in_a_later_chunk_is_counted_from_the_file_start(tmp_path):
    folder = csv_folder(tmp_path)
    write(folder, "ratings.csv", CSV_HEADER + GOOD_CSV * 5 + "1,1,4,1,1\n")
    chunks = iter_ratings(folder, chunksize=3)
    with pytest.raises(LoadError) as caught:
        for _ in chunks:
            pass
    assert caught.value.line == 12 and caught.value.reason.endswith("got 5")
