"""Telling the MovieLens layouts apart by the files a folder holds."""
from __future__ import annotations

import pytest

from shared.data import movielens
from shared.data.errors import LoadError
from shared.data.formats import detect_format
from tests.unit.data.movielens_folders import FORMATS, ml10m_folder, write


def test_ml1m_and_ml10m_are_told_apart_by_their_extra_file(tmp_path):
    folder = ml10m_folder(tmp_path)
    write(folder, "users.dat", "1::F::1::10::48067\n")
    assert detect_format(folder) == "ml-10m"
    (folder / "tags.dat").unlink()
    assert detect_format(folder) == "ml-1m"


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
        detect_format(tmp_path / "nowhere")
    assert all(fmt in str(caught.value) for fmt in FORMATS)
    assert caught.value.line is None


def test_a_lone_ratings_dat_is_not_guessed(tmp_path):
    write(tmp_path, "ratings.dat", "1::2::3::4\n")
    write(tmp_path, "movies.dat", "2::A (1999)::Drama\n")
    with pytest.raises(LoadError, match="users.dat"):
        detect_format(tmp_path)
