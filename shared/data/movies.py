"""The movies of every MovieLens layout: ``movie_id, title, year, genres, tags``.

Titles lose their "(1995)", which becomes the nullable year; genres and distinct tags are
'|'-joined, '' when none.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shared.data.column_checks import Check, first_failure, integers
from shared.data.errors import LoadError
from shared.data.formats import detect_format
from shared.data.text_tables import ids, read_table
from shared.recsys.ratings import MOVIES_COLUMNS

GENRES_100K = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
               "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
               "Romance", "Sci-Fi", "Thriller", "War", "Western")
_NO_GENRE = ("(no genres listed)", "unknown")
_TITLE_YEAR = r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\s*\)$"


def load_movies(path) -> pd.DataFrame:
    """The movies of folder ``path``: movie_id, title, year, genres, tags."""
    folder = Path(path)
    return _MOVIES[detect_format(folder)](folder)


def _joined_by_movie(movie_ids: np.ndarray, tags: pd.Series) -> pd.Series:
    """'|'-joined distinct tags per movie id, in the order given."""
    frame = pd.DataFrame({"movie_id": movie_ids, "tag": tags.astype(str).str.strip().to_numpy()})
    frame = frame[frame["tag"] != ""].drop_duplicates()
    return frame.groupby("movie_id", sort=False)["tag"].agg("|".join)


def _movies_frame(movie_ids: np.ndarray, titles: pd.Series, genres: pd.Series,
                  tags: pd.Series | None = None, years: pd.Series | None = None) -> pd.DataFrame:
    """Assemble the movies frame; ``years`` (when a layout has a year column) wins over titles."""
    titles = pd.Series(titles.to_numpy(), dtype=str).str.strip()
    split = titles.str.extract(_TITLE_YEAR)
    year = pd.to_numeric(split["year"], errors="coerce").astype("Int64")
    if years is not None:
        given = pd.to_numeric(pd.Series(years.to_numpy()), errors="coerce").round().astype("Int64")
        year = given.fillna(year)
    genres = pd.Series(genres.to_numpy(), dtype=str)
    movies = pd.DataFrame({
        "movie_id": movie_ids.astype(np.int64),
        "title": split["title"].fillna(titles).astype(str),
        "year": year,
        "genres": genres.where(~genres.isin(_NO_GENRE), "").astype(str),
        "tags": "",
    })
    if tags is not None:
        movies["tags"] = movies["movie_id"].map(tags).fillna("")
    movies["tags"] = movies["tags"].astype(str)
    return movies[MOVIES_COLUMNS]


def _movies_csv(folder: Path) -> pd.DataFrame:
    file = folder / "movies.csv"
    table = read_table(file, ",", ("movieId", "title", "genres"), header=True, quoted=True)
    tags = None
    if (folder / "tags.csv").is_file():
        tag_file = folder / "tags.csv"
        tagged = read_table(tag_file, ",", ("userId", "movieId", "tag"), header=True, quoted=True)
        ids(tag_file, tagged, "userId")
        tags = _joined_by_movie(ids(tag_file, tagged, "movieId"), tagged["tag"])
    return _movies_frame(ids(file, table, "movieId", unique=True), table["title"],
                         table["genres"], tags)


def _movies_dat(folder: Path) -> pd.DataFrame:
    file = folder / "movies.dat"
    table = read_table(file, "::", ("MovieID", "Title", "Genres"), header=False, free="Title")
    tags = None
    if (folder / "tags.dat").is_file():
        tag_file = folder / "tags.dat"
        tagged = read_table(tag_file, "::", ("UserID", "MovieID", "Tag", "Timestamp"),
                            header=False, free="Tag")
        ids(tag_file, tagged, "UserID")
        tags = _joined_by_movie(ids(tag_file, tagged, "MovieID"), tagged["Tag"])
    return _movies_frame(ids(file, table, "MovieID", unique=True), table["Title"],
                         table["Genres"], tags)


def _movies_100k(folder: Path) -> pd.DataFrame:
    genres = list(GENRES_100K)
    if (folder / "u.genre").is_file():
        genre_file = folder / "u.genre"
        listed = read_table(genre_file, "|", ("genre", "code"), header=False)
        checks: list[Check] = []
        codes = integers(listed["code"], "code", 0, checks)
        failure = first_failure(checks)
        if failure is not None:
            raise LoadError(genre_file, failure[1], int(listed.index[failure[0]]))
        if sorted(codes.astype(np.int64).tolist()) != list(range(len(codes))):
            raise LoadError(genre_file, f"genre codes must be 0..{len(codes) - 1}, each once")
        genres = listed["genre"].to_numpy()[np.argsort(codes)].tolist()
    file = folder / "u.item"
    fields = ("movie id", "movie title", "release date", "video release date", "IMDb URL", *genres)
    table = read_table(file, "|", fields, header=False)
    flags = table[genres].to_numpy(dtype=str)
    bad = ~np.isin(flags, ["0", "1"])
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise LoadError(file, f"genre flag {genres[column]} {str(flags[row, column])!r} "
                              "is not 0 or 1", int(table.index[row]))
    rows, columns = np.nonzero(flags == "1")
    names = pd.Series(np.asarray(genres, dtype=object)[columns], index=rows)
    joined = (names[~names.isin(_NO_GENRE)].groupby(level=0).agg("|".join)
              .reindex(range(len(table)), fill_value=""))
    released = table["release date"].str.extract(r"(\d{4})\s*$")[0]
    movies = _movies_frame(ids(file, table, "movie id", unique=True), table["movie title"], joined)
    movies["year"] = movies["year"].fillna(
        pd.to_numeric(pd.Series(released.to_numpy()), errors="coerce").astype("Int64"))
    return movies


def _movies_hetrec(folder: Path) -> pd.DataFrame:
    file = folder / "movies.dat"
    table = read_table(file, "\t", ("id", "title", "year"), header=True)
    movie_ids = ids(file, table, "id", unique=True)
    genres = pd.Series("", index=movie_ids)
    if (folder / "movie_genres.dat").is_file():
        genre_file = folder / "movie_genres.dat"
        listed = read_table(genre_file, "\t", ("movieID", "genre"), header=True)
        by_movie = _joined_by_movie(ids(genre_file, listed, "movieID"), listed["genre"])
        genres = by_movie.reindex(movie_ids, fill_value="")
    return _movies_frame(movie_ids, table["title"], genres, _hetrec_tags(folder),
                         years=table["year"])


def _hetrec_tags(folder: Path) -> pd.Series | None:
    """Tags per movie from movie_tags.dat, heaviest first, named by tags.dat."""
    tagged_file, names_file = folder / "movie_tags.dat", folder / "tags.dat"
    if not tagged_file.is_file():
        return None
    if not names_file.is_file():
        raise LoadError(names_file, "no such file; movie_tags.dat needs it for the tag names")
    names = read_table(names_file, "\t", ("id", "value"), header=True)
    name_of = pd.Series(names["value"].to_numpy(), index=ids(names_file, names, "id", unique=True))
    tagged = read_table(tagged_file, "\t", ("movieID", "tagID", "tagWeight"), header=True)
    movie_ids = ids(tagged_file, tagged, "movieID")
    tag_ids = ids(tagged_file, tagged, "tagID")
    checks: list[Check] = []
    weights = integers(tagged["tagWeight"], "tagWeight", 0, checks)
    unknown = ~np.isin(tag_ids, name_of.index.to_numpy())
    checks.append((unknown, lambda i: f"tagID {tag_ids[i]} is not in tags.dat"))
    failure = first_failure(checks)
    if failure is not None:
        raise LoadError(tagged_file, failure[1], int(tagged.index[failure[0]]))
    order = np.argsort(-weights, kind="stable")
    return _joined_by_movie(movie_ids[order], pd.Series(name_of.loc[tag_ids[order]].to_numpy()))


_MOVIES = {"csv": _movies_csv, "ml-100k": _movies_100k, "ml-1m": _movies_dat,
           "ml-10m": _movies_dat, "hetrec-2k": _movies_hetrec}
