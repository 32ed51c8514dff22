"""Read any MovieLens release into one ratings frame and one movies frame.

GroupLens published MovieLens in five layouts; :func:`detect_format` tells them apart by the
files a folder holds, and every loader returns the columns of :mod:`shared.recsys.ratings`:
ratings ``user_id, movie_id, rating, ts`` (int64, int64, float64, int64 unix seconds) and
movies ``movie_id, title, year, genres, tags`` (title without its "(1995)", nullable year,
'|'-joined genres and distinct tags, '' when none).

Input is checked column-wise, chunk by chunk; the first bad line fails with a
:class:`LoadError` naming the file, the line and what is wrong, so a damaged download never
becomes silent NaNs. Ratings are read in chunks, so :func:`iter_ratings` runs in bounded memory
even on ml-25m.
"""
from __future__ import annotations

import csv
import io
import itertools
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import numpy as np
import pandas as pd
from tqdm import tqdm

from shared.recsys.ratings import MOVIES_COLUMNS, RATINGS_COLUMNS

FOLDS_100K = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
GENRES_100K = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
               "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
               "Romance", "Sci-Fi", "Thriller", "War", "Western")
_NO_GENRE = ("(no genres listed)", "unknown")
_TITLE_YEAR = r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\s*\)$"


class LoadError(ValueError):
    """A dataset folder or file that cannot be read: ``path``, 1-based ``line`` (counting the
    header; None when the problem is not on one line) and ``reason``."""

    def __init__(self, path, reason: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = str(self.path) if line is None else f"{self.path} line {line}"
        super().__init__(f"{where}: {reason}")


class MovieLens(NamedTuple):
    ratings: pd.DataFrame
    movies: pd.DataFrame
    format: str


@dataclass(frozen=True)
class _Format:
    name: str
    releases: str
    needs: tuple[str, ...]
    optional: str = ""


# Checked in this order: the first whose files are all present wins.
_FORMATS = (
    _Format("hetrec-2k", "hetrec2011-movielens-2k", ("user_ratedmovies.dat", "movies.dat"),
            "movie_genres.dat, movie_tags.dat with tags.dat"),
    _Format("csv", "ml-latest-small, ml-latest, ml-20m, ml-25m", ("ratings.csv", "movies.csv"),
            "tags.csv"),
    _Format("ml-100k", "ml-100k", ("u.data", "u.item"),
            "u.genre, folds u1..u5/ua/ub .base and .test"),
    _Format("ml-10m", "ml-10m / ml-10M100K", ("ratings.dat", "movies.dat", "tags.dat")),
    _Format("ml-1m", "ml-1m", ("ratings.dat", "movies.dat", "users.dat")),
)


def _known_formats() -> str:
    lines = ["known formats and the files each needs:"]
    for fmt in _FORMATS:
        optional = f" (optional: {fmt.optional})" if fmt.optional else ""
        lines.append(f"  {fmt.name} [{fmt.releases}]: {', '.join(fmt.needs)}{optional}")
    return "\n".join(lines)


def detect_format(path) -> str:
    """Name the MovieLens layout of folder ``path``: one of "hetrec-2k", "csv", "ml-100k",
    "ml-10m", "ml-1m". Raises :class:`LoadError` listing the known layouts otherwise."""
    folder = Path(path)
    if not folder.is_dir():
        problem = "not a folder" if folder.exists() else "no such folder"
        raise LoadError(folder, f"{problem}; {_known_formats()}")
    present = {entry.name for entry in folder.iterdir() if entry.is_file()}
    for fmt in _FORMATS:
        if all(name in present for name in fmt.needs):
            return fmt.name
    holds = ", ".join(sorted(present)[:12]) + (", ..." if len(present) > 12 else "")
    raise LoadError(folder, f"not a MovieLens folder I know (it holds: {holds or 'no files'}); "
                            f"{_known_formats()}")


# --------------------------------------------------------------------------- ratings

@dataclass(frozen=True)
class _RatingsFile:
    """How one layout writes its ratings: ratings run from ``step`` to 5 in steps of ``step``;
    ``fields`` are the file's own column names (user, movie, rating, then time)."""
    name: str
    sep: str
    fields: tuple[str, ...]
    header: bool
    step: float


_DATE_FIELDS = ("date_year", "date_month", "date_day", "date_hour", "date_minute", "date_second")
_RATINGS = {
    "csv": _RatingsFile("ratings.csv", ",", ("userId", "movieId", "rating", "timestamp"), True, 0.5),
    "ml-100k": _RatingsFile("u.data", "\t", ("user id", "item id", "rating", "timestamp"), False, 1.0),
    "ml-1m": _RatingsFile("ratings.dat", "::", ("UserID", "MovieID", "Rating", "Timestamp"), False, 1.0),
    "ml-10m": _RatingsFile("ratings.dat", "::", ("UserID", "MovieID", "Rating", "Timestamp"), False, 0.5),
    "hetrec-2k": _RatingsFile(
        "user_ratedmovies.dat", "\t",
        ("userID", "movieID", "rating", "date_day", "date_month", "date_year", "date_hour",
         "date_minute", "date_second"), True, 0.5),
}

_Check = tuple[np.ndarray, Callable[[int], str]]  # rows that fail, reason for row i


def iter_ratings(path, chunksize: int = 1_000_000, progress: bool = False) -> Iterator[pd.DataFrame]:
    """Yield the ratings of folder ``path`` as validated frames of at most ``chunksize`` rows,
    in file order. A bad line raises :class:`LoadError` when its chunk is read, after the
    chunks before it were yielded. Duplicate (user, movie) pairs are kept."""
    if chunksize < 1:
        raise ValueError(f"chunksize must be at least 1, got {chunksize}")
    folder = Path(path)
    spec = _RATINGS[detect_format(folder)]
    return _iter_file(folder / spec.name, spec, chunksize, progress)


def load_ratings(path, progress: bool = False) -> pd.DataFrame:
    """All ratings of folder ``path`` in one frame (see :func:`iter_ratings`)."""
    return _concat(iter_ratings(path, progress=progress))


def ml100k_fold(path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (train, test) ratings of ml-100k's predefined split ``name``: "u1".."u5" (five
    disjoint 80/20 folds) or "ua", "ub" (ten ratings per user held out)."""
    if name not in FOLDS_100K:
        raise ValueError(f"unknown ml-100k fold {name!r}; expected one of {', '.join(FOLDS_100K)}")
    folder = Path(path)
    fmt = detect_format(folder)
    if fmt != "ml-100k":
        raise LoadError(folder, f"is a {fmt} folder; predefined folds exist only in ml-100k")
    spec = _RATINGS["ml-100k"]
    frames = []
    for part in ("base", "test"):
        file = folder / f"{name}.{part}"
        if not file.is_file():
            raise LoadError(file, f"no such file; fold {name} needs {name}.base and {name}.test")
        frames.append(_concat(_iter_file(file, spec, 1_000_000, False)))
    return frames[0], frames[1]


def _concat(frames) -> pd.DataFrame:
    frames = list(frames)
    if not frames:
        return _ratings_frame({column: np.empty(0) for column in RATINGS_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def _ratings_frame(columns: dict) -> pd.DataFrame:
    dtypes = {"user_id": np.int64, "movie_id": np.int64, "rating": np.float64, "ts": np.int64}
    return pd.DataFrame({name: np.asarray(columns[name]).astype(dtypes[name], copy=False)
                         for name in RATINGS_COLUMNS})


def _pandas_names(spec: _RatingsFile) -> list[str]:
    if spec.sep != "::":
        return list(spec.fields)
    # The fast C parser takes one-character separators only: "a::b" is read with ":" as a, "", b.
    names = []
    for k, field in enumerate(spec.fields):
        names += [field] if k == 0 else [f"::{k}", field]
    return names


def _read_options(spec: _RatingsFile) -> dict:
    return dict(sep=":" if spec.sep == "::" else spec.sep, header=None, names=_pandas_names(spec),
                index_col=False, skip_blank_lines=False, quoting=csv.QUOTE_NONE,
                encoding="latin-1", engine="c", low_memory=False)


def _iter_file(file: Path, spec: _RatingsFile, chunksize: int, progress: bool) -> Iterator[pd.DataFrame]:
    if not file.is_file():
        raise LoadError(file, "no such file")
    with open(file, "rb") as handle, tqdm(total=file.stat().st_size, unit="B", unit_scale=True,
                                          unit_divisor=1024, desc=file.name,
                                          disable=not progress) as bar:
        first_line = 1
        if spec.header:
            _check_header(file, handle.readline().decode("utf-8-sig", "replace"), spec)
            first_line = 2
        line = first_line
        with pd.read_csv(handle, chunksize=chunksize, **_read_options(spec)) as reader:
            while True:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("error", pd.errors.ParserWarning)
                        chunk = next(reader)
                except StopIteration:
                    break
                except pd.errors.ParserError as error:
                    raise _too_many_fields(file, spec, error, line, first_line) from None
                except pd.errors.ParserWarning:  # extra fields on the first line: pandas would drop them
                    raise _error_at(file, spec, first_line, "too many fields") from None
                frame = _validated(file, spec, chunk, line)
                line += len(chunk)
                bar.update(handle.tell() - bar.n)
                if len(frame):
                    yield frame
        bar.update(bar.total - bar.n)


def _check_header(file: Path, text: str, spec: _RatingsFile) -> None:
    got = [name.strip().strip('"') for name in text.rstrip("\r\n").split(spec.sep)]
    if [name.lower() for name in got] != [name.lower() for name in spec.fields]:
        shown = text.rstrip("\r\n")
        raise LoadError(file, f"expected the header {spec.sep.join(spec.fields)!r}, got {shown!r}", 1)


def _validated(file: Path, spec: _RatingsFile, chunk: pd.DataFrame, first_line: int) -> pd.DataFrame:
    lines = first_line + np.arange(len(chunk))
    if not all(pd.api.types.is_integer_dtype(dtype) for dtype in chunk.dtypes):
        blank = chunk.isna().all(axis=1).to_numpy()
        if blank.any():
            chunk, lines = chunk[~blank], lines[~blank]
    columns, checks = _parse_ratings(chunk, spec)
    separators = [name for name in chunk.columns if name not in spec.fields]
    if separators:
        checks.insert(0, (chunk[separators].notna().any(axis=1).to_numpy(),
                          lambda i: f"fields are not separated by {spec.sep!r}"))
    failure = _first_failure(checks)
    if failure is not None:
        i, reason = failure
        raise _error_at(file, spec, int(lines[i]), reason)
    return _ratings_frame(columns)


def _parse_ratings(frame: pd.DataFrame, spec: _RatingsFile) -> tuple[dict, list[_Check]]:
    """Numeric columns of ``frame`` and the checks its rows must pass (not yet applied)."""
    user, movie, rating = spec.fields[:3]
    checks: list[_Check] = []
    columns = {
        "user_id": _integers(frame[user], user, 1, checks),
        "movie_id": _integers(frame[movie], movie, 1, checks),
        "rating": _rating_values(frame[rating], rating, spec.step, checks),
    }
    if len(spec.fields) == 4:
        columns["ts"] = _integers(frame[spec.fields[3]], spec.fields[3], 0, checks)
    else:
        columns["ts"] = _date_seconds(frame, checks)
    return columns, checks


def _shown(value) -> str:
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        value = int(value)
    return repr(str(value))


def _empty(values: pd.Series) -> np.ndarray:
    missing = values.isna().to_numpy()
    if not pd.api.types.is_numeric_dtype(values.dtype):
        missing = missing | (values.astype(str).str.strip() == "").to_numpy()
    return missing


def _integers(values: pd.Series, field: str, lowest: int, checks: list[_Check]) -> np.ndarray:
    if pd.api.types.is_integer_dtype(values.dtype):
        numbers = values.to_numpy(np.int64)
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        empty = _empty(values)
        whole = np.isfinite(numbers) & (numbers == np.floor(numbers)) & (np.abs(numbers) < 2.0**62)
        checks.append((empty, lambda i: f"{field} is empty"))
        checks.append((~empty & ~whole,
                       lambda i: f"{field} {_shown(values.iloc[i])} is not an integer"))
    below = {0: "is negative", 1: "is not positive"}[lowest]
    checks.append((numbers < lowest, lambda i: f"{field} {_shown(values.iloc[i])} {below}"))
    return numbers


def _rating_values(values: pd.Series, field: str, step: float, checks: list[_Check]) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.to_numpy(np.float64, na_value=np.nan)
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    empty = _empty(values)
    with np.errstate(invalid="ignore"):
        off_step = np.isfinite(numbers) & (np.mod(numbers, step) != 0)
    unit = "a whole number" if step == 1 else f"a multiple of {step:g}"
    checks += [
        (empty, lambda i: f"{field} is empty"),
        (~empty & np.isnan(numbers), lambda i: f"{field} {_shown(values.iloc[i])} is not a number"),
        ((numbers < step) | (numbers > 5),
         lambda i: f"{field} {_shown(values.iloc[i])} is not between {step:g} and 5"),
        (off_step, lambda i: f"{field} {_shown(values.iloc[i])} is not {unit}"),
    ]
    return numbers


def _date_seconds(frame: pd.DataFrame, checks: list[_Check]) -> np.ndarray:
    """Unix seconds of hetrec's date_* columns, read as UTC."""
    parts = {field: _integers(frame[field], field, 0, checks) for field in _DATE_FIELDS}
    ok = np.logical_and.reduce([np.isfinite(np.asarray(v, np.float64)) for v in parts.values()])
    filler = {"date_year": 1970, "date_month": 1, "date_day": 1}
    safe = {field.removeprefix("date_"): np.where(ok, values, filler.get(field, 0)).astype(np.int64)
            for field, values in parts.items()}
    in_range = (safe["hour"] < 24) & (safe["minute"] < 60) & (safe["second"] < 60)
    stamps = pd.to_datetime(pd.DataFrame(safe), errors="coerce")
    valid = stamps.notna().to_numpy() & in_range

    def shown(i: int) -> str:
        y, mo, d, h, mi, s = (str(frame[field].iloc[i]) for field in _DATE_FIELDS)
        return f"date '{y}-{mo}-{d} {h}:{mi}:{s}' is not a valid date"

    checks.append((ok & ~valid, shown))
    seconds = stamps.to_numpy().astype("datetime64[s]").astype(np.int64)
    return np.where(ok & valid, seconds, -1)


def _first_failure(checks: list[_Check]) -> tuple[int, str] | None:
    """Position of the first row failing any check, and the reason of the first check it fails."""
    if not checks:
        return None
    bad = np.logical_or.reduce([mask for mask, _ in checks])
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    return i, next(reason(i) for mask, reason in checks if mask[i])


def _field_count(sep: str, fields, got: int) -> str:
    return f"expected {len(fields)} fields ({', '.join(fields)}) separated by {sep!r}, got {got}"


def _raw_line(file: Path, line: int) -> str:
    with open(file, encoding="latin-1", newline="") as handle:
        for text in itertools.islice(handle, line - 1, line):
            return text.rstrip("\r\n")
    return ""


def _error_at(file: Path, spec: _RatingsFile, line: int, fallback: str) -> LoadError:
    """Describe bad line ``line`` from its raw text, so the message shows what the file holds."""
    fields = _raw_line(file, line).split(spec.sep)
    if len(fields) != len(spec.fields):
        return LoadError(file, _field_count(spec.sep, spec.fields, len(fields)), line)
    _, checks = _parse_ratings(pd.DataFrame([fields], columns=list(spec.fields)), spec)
    failure = _first_failure(checks)
    return LoadError(file, failure[1] if failure else fallback, line)


def _too_many_fields(file: Path, spec: _RatingsFile, error: Exception, chunk_line: int,
                     first_line: int) -> LoadError:
    found = re.search(r"Expected \d+ fields in line (\d+), saw \d+", str(error))
    if found is None:
        return LoadError(file, f"cannot parse: {error}")
    line = int(found.group(1)) + first_line - 1
    if line > chunk_line:  # the parser stopped before validating this chunk's earlier lines
        before = pd.read_csv(file, skiprows=chunk_line - 1, nrows=line - chunk_line,
                             **_read_options(spec))
        _validated(file, spec, before, chunk_line)
    return _error_at(file, spec, line, f"more than {len(spec.fields)} fields")


# --------------------------------------------------------------------------- movies

def _decode(file: Path) -> str:
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _read_table(file: Path, sep: str, fields: tuple[str, ...], *, header: bool,
                quoted: bool = False, free: str | None = None) -> pd.DataFrame:
    """The ``fields`` of a small text table as strings, indexed by 1-based line number.

    With ``header`` the fields are found by name (any case) in the first line, otherwise they
    are the file's columns in order. ``free`` names a column that may itself contain ``sep``.
    """
    if not file.is_file():
        raise LoadError(file, "no such file")
    text = _decode(file)
    lines = text.split("\n")
    first = 2 if header else 1
    if header:
        columns = _split_line(lines[0].rstrip("\r"), sep, quoted)
        lowered = [name.strip().lower() for name in columns]
        lacking = [field for field in fields if field.lower() not in lowered]
        if lacking:
            shown = lines[0].rstrip("\r")
            raise LoadError(file, f"the header {shown!r} lacks {', '.join(lacking)}", 1)
        wanted = {field.lower(): field for field in fields}
        columns = [wanted.get(name, f"_{k}") for k, name in enumerate(lowered)]
    else:
        columns = list(fields)
    if quoted:
        table = _read_quoted(file, text, lines, columns, first)
    else:
        table = _split_lines(file, lines, sep, columns, first, free)
    return table[list(fields)]


def _split_line(line: str, sep: str, quoted: bool) -> list[str]:
    return next(csv.reader([line], delimiter=sep)) if quoted else line.split(sep)


def _read_quoted(file: Path, text: str, lines: list[str], columns: list[str], first: int) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(io.StringIO(text), skiprows=first - 1, header=None, names=columns,
                                dtype=str, keep_default_na=False, na_values=[""],
                                skip_blank_lines=False, index_col=False, engine="c")
    except pd.errors.ParserWarning:  # extra fields on the first line: pandas would drop them
        got = len(_split_line(lines[first - 1].rstrip("\r"), ",", True))
        raise LoadError(file, _field_count(",", columns, got), first) from None
    except pd.errors.ParserError as error:
        found = re.search(r"Expected \d+ fields in line (\d+), saw (\d+)", str(error))
        if found is None:
            raise LoadError(file, f"cannot parse: {error}") from None
        raise LoadError(file, _field_count(",", columns, int(found.group(2))),
                        int(found.group(1)) + first - 1) from None
    table.index = pd.RangeIndex(first, first + len(table))
    table = table[table.notna().any(axis=1)]
    # A missing last field reads like an empty one: count the fields of those few lines.
    for line in table.index[table[columns[-1]].isna()]:
        got = len(_split_line(lines[line - 1].rstrip("\r"), ",", True))
        if got != len(columns):
            raise LoadError(file, _field_count(",", columns, got), int(line))
    return table.fillna("")


def _split_lines(file: Path, lines: list[str], sep: str, columns: list[str], first: int,
                 free: str | None) -> pd.DataFrame:
    body = pd.Series(lines[first - 1:], index=pd.RangeIndex(first, len(lines) + 1), dtype=object)
    body = body.str.removesuffix("\r")
    body = body[body.str.strip() != ""].astype(str)
    n = len(columns)
    if body.empty:
        return pd.DataFrame({name: pd.Series([], dtype=str) for name in columns})
    counts = body.str.count(re.escape(sep)) + 1
    bad = (counts < n) if free else (counts != n)
    if bad.any():
        line = int(bad.idxmax())
        raise LoadError(file, _field_count(sep, columns, int(counts[line])), line)
    if free is None or columns.index(free) == n - 1:
        parts = body.str.split(sep, n=n - 1, regex=False, expand=True)
    else:
        k = columns.index(free)
        left = body.str.split(sep, n=k, regex=False, expand=True) if k else body.to_frame(0)
        right = left[k].str.rsplit(sep, n=n - k - 1, expand=True)
        parts = pd.concat([left.iloc[:, :k], right.set_axis(range(k, n), axis=1)], axis=1)
    return parts.set_axis(columns, axis=1)


def _ids(file: Path, table: pd.DataFrame, field: str, unique: bool = False) -> np.ndarray:
    checks: list[_Check] = []
    numbers = _integers(table[field], field, 1, checks)
    failure = _first_failure(checks)
    if failure is not None:
        raise LoadError(file, failure[1], int(table.index[failure[0]]))
    numbers = numbers.astype(np.int64)
    if unique:
        repeated = pd.Series(numbers).duplicated().to_numpy()
        if repeated.any():
            i = int(np.argmax(repeated))
            raise LoadError(file, f"{field} {numbers[i]} appears twice", int(table.index[i]))
    return numbers


def _joined_by_movie(movie_ids: np.ndarray, tags: pd.Series) -> pd.Series:
    """'|'-joined distinct tags per movie id, in the order given."""
    frame = pd.DataFrame({"movie_id": movie_ids, "tag": tags.astype(str).str.strip().to_numpy()})
    frame = frame[frame["tag"] != ""].drop_duplicates()
    return frame.groupby("movie_id", sort=False)["tag"].agg("|".join)


def _movies_frame(ids: np.ndarray, titles: pd.Series, genres: pd.Series,
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
        "movie_id": ids.astype(np.int64),
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
    table = _read_table(file, ",", ("movieId", "title", "genres"), header=True, quoted=True)
    tags = None
    if (folder / "tags.csv").is_file():
        tag_file = folder / "tags.csv"
        tagged = _read_table(tag_file, ",", ("userId", "movieId", "tag"), header=True, quoted=True)
        _ids(tag_file, tagged, "userId")
        tags = _joined_by_movie(_ids(tag_file, tagged, "movieId"), tagged["tag"])
    return _movies_frame(_ids(file, table, "movieId", unique=True), table["title"],
                         table["genres"], tags)


def _movies_dat(folder: Path) -> pd.DataFrame:
    file = folder / "movies.dat"
    table = _read_table(file, "::", ("MovieID", "Title", "Genres"), header=False, free="Title")
    tags = None
    if (folder / "tags.dat").is_file():
        tag_file = folder / "tags.dat"
        tagged = _read_table(tag_file, "::", ("UserID", "MovieID", "Tag", "Timestamp"),
                             header=False, free="Tag")
        _ids(tag_file, tagged, "UserID")
        tags = _joined_by_movie(_ids(tag_file, tagged, "MovieID"), tagged["Tag"])
    return _movies_frame(_ids(file, table, "MovieID", unique=True), table["Title"],
                         table["Genres"], tags)


def _movies_100k(folder: Path) -> pd.DataFrame:
    genres = list(GENRES_100K)
    if (folder / "u.genre").is_file():
        genre_file = folder / "u.genre"
        listed = _read_table(genre_file, "|", ("genre", "code"), header=False)
        checks: list[_Check] = []
        codes = _integers(listed["code"], "code", 0, checks)
        failure = _first_failure(checks)
        if failure is not None:
            raise LoadError(genre_file, failure[1], int(listed.index[failure[0]]))
        if sorted(codes.astype(np.int64).tolist()) != list(range(len(codes))):
            raise LoadError(genre_file, f"genre codes must be 0..{len(codes) - 1}, each once")
        genres = listed["genre"].to_numpy()[np.argsort(codes)].tolist()
    file = folder / "u.item"
    fields = ("movie id", "movie title", "release date", "video release date", "IMDb URL", *genres)
    table = _read_table(file, "|", fields, header=False)
    flags = table[genres].to_numpy(dtype=str)
    bad = ~np.isin(flags, ["0", "1"])
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise LoadError(file, f"genre flag {genres[column]} {str(flags[row, column])!r} is not 0 or 1",
                        int(table.index[row]))
    rows, columns = np.nonzero(flags == "1")
    names = pd.Series(np.asarray(genres, dtype=object)[columns], index=rows)
    joined = (names[~names.isin(_NO_GENRE)].groupby(level=0).agg("|".join)
              .reindex(range(len(table)), fill_value=""))
    released = table["release date"].str.extract(r"(\d{4})\s*$")[0]
    movies = _movies_frame(_ids(file, table, "movie id", unique=True), table["movie title"], joined)
    movies["year"] = movies["year"].fillna(
        pd.to_numeric(pd.Series(released.to_numpy()), errors="coerce").astype("Int64"))
    return movies


def _movies_hetrec(folder: Path) -> pd.DataFrame:
    file = folder / "movies.dat"
    table = _read_table(file, "\t", ("id", "title", "year"), header=True)
    ids = _ids(file, table, "id", unique=True)
    genres = pd.Series("", index=ids)
    if (folder / "movie_genres.dat").is_file():
        genre_file = folder / "movie_genres.dat"
        listed = _read_table(genre_file, "\t", ("movieID", "genre"), header=True)
        by_movie = _joined_by_movie(_ids(genre_file, listed, "movieID"), listed["genre"])
        genres = by_movie.reindex(ids, fill_value="")
    return _movies_frame(ids, table["title"], genres, _hetrec_tags(folder),
                         years=table["year"])


def _hetrec_tags(folder: Path) -> pd.Series | None:
    """Tags per movie from movie_tags.dat, heaviest first, named by tags.dat."""
    tagged_file, names_file = folder / "movie_tags.dat", folder / "tags.dat"
    if not tagged_file.is_file():
        return None
    if not names_file.is_file():
        raise LoadError(names_file, "no such file; movie_tags.dat needs it for the tag names")
    names = _read_table(names_file, "\t", ("id", "value"), header=True)
    name_of = pd.Series(names["value"].to_numpy(), index=_ids(names_file, names, "id", unique=True))
    tagged = _read_table(tagged_file, "\t", ("movieID", "tagID", "tagWeight"), header=True)
    movie_ids = _ids(tagged_file, tagged, "movieID")
    tag_ids = _ids(tagged_file, tagged, "tagID")
    checks: list[_Check] = []
    weights = _integers(tagged["tagWeight"], "tagWeight", 0, checks)
    unknown = ~np.isin(tag_ids, name_of.index.to_numpy())
    checks.append((unknown, lambda i: f"tagID {tag_ids[i]} is not in tags.dat"))
    failure = _first_failure(checks)
    if failure is not None:
        raise LoadError(tagged_file, failure[1], int(tagged.index[failure[0]]))
    order = np.argsort(-weights, kind="stable")
    return _joined_by_movie(movie_ids[order], pd.Series(name_of.loc[tag_ids[order]].to_numpy()))


_MOVIES = {"csv": _movies_csv, "ml-100k": _movies_100k, "ml-1m": _movies_dat,
           "ml-10m": _movies_dat, "hetrec-2k": _movies_hetrec}


def load_movies(path) -> pd.DataFrame:
    """The movies of folder ``path``: movie_id, title, year, genres, tags."""
    folder = Path(path)
    return _MOVIES[detect_format(folder)](folder)


def load(path, progress: bool = False) -> MovieLens:
    """Ratings and movies of the MovieLens folder ``path``, whatever its layout."""
    fmt = detect_format(path)
    return MovieLens(load_ratings(path, progress=progress), load_movies(path), fmt)
