"""The ratings file of every MovieLens layout, read in chunks and checked line by line.

The first bad line fails with a :class:`LoadError` naming the file, the line and what is
wrong, so a damaged download never becomes silent NaNs; chunked reading keeps memory bounded
even on ml-25m.
"""
from __future__ import annotations

import csv
import itertools
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from shared.data.column_checks import (
    Check,
    date_seconds,
    field_count,
    first_failure,
    integers,
    rating_values,
)
from shared.data.errors import LoadError
from shared.data.formats import detect_format
from shared.recsys.ratings import RATINGS_COLUMNS

FOLDS_100K = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


@dataclass(frozen=True)
class _RatingsFile:
    """How one layout writes its ratings: ratings run from ``step`` to 5 in steps of ``step``;
    ``fields`` are the file's own column names (user, movie, rating, then time)."""
    name: str
    sep: str
    fields: tuple[str, ...]
    header: bool
    step: float


_RATINGS = {
    "csv": _RatingsFile(
        "ratings.csv", ",", ("userId", "movieId", "rating", "timestamp"), True, 0.5),
    "ml-100k": _RatingsFile(
        "u.data", "\t", ("user id", "item id", "rating", "timestamp"), False, 1.0),
    "ml-1m": _RatingsFile(
        "ratings.dat", "::", ("UserID", "MovieID", "Rating", "Timestamp"), False, 1.0),
    "ml-10m": _RatingsFile(
        "ratings.dat", "::", ("UserID", "MovieID", "Rating", "Timestamp"), False, 0.5),
    "hetrec-2k": _RatingsFile(
        "user_ratedmovies.dat", "\t",
        ("userID", "movieID", "rating", "date_day", "date_month", "date_year", "date_hour",
         "date_minute", "date_second"), True, 0.5),
}


def iter_ratings(path, chunksize: int = 1_000_000,
                 progress: bool = False) -> Iterator[pd.DataFrame]:
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


def _iter_file(file: Path, spec: _RatingsFile, chunksize: int,
               progress: bool) -> Iterator[pd.DataFrame]:
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
                except pd.errors.ParserWarning:
                    # extra fields on the first line: pandas would drop them
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
        raise LoadError(file, f"expected the header {spec.sep.join(spec.fields)!r}, "
                              f"got {shown!r}", 1)


def _validated(file: Path, spec: _RatingsFile, chunk: pd.DataFrame,
               first_line: int) -> pd.DataFrame:
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
    failure = first_failure(checks)
    if failure is not None:
        i, reason = failure
        raise _error_at(file, spec, int(lines[i]), reason)
    return _ratings_frame(columns)


def _parse_ratings(frame: pd.DataFrame, spec: _RatingsFile) -> tuple[dict, list[Check]]:
    """Numeric columns of ``frame`` and the checks its rows must pass (not yet applied)."""
    user, movie, rating = spec.fields[:3]
    checks: list[Check] = []
    columns = {
        "user_id": integers(frame[user], user, 1, checks),
        "movie_id": integers(frame[movie], movie, 1, checks),
        "rating": rating_values(frame[rating], rating, spec.step, checks),
    }
    if len(spec.fields) == 4:
        columns["ts"] = integers(frame[spec.fields[3]], spec.fields[3], 0, checks)
    else:
        columns["ts"] = date_seconds(frame, checks)
    return columns, checks


def _raw_line(file: Path, line: int) -> str:
    with open(file, encoding="latin-1", newline="") as handle:
        for text in itertools.islice(handle, line - 1, line):
            return text.rstrip("\r\n")
    return ""


def _error_at(file: Path, spec: _RatingsFile, line: int, fallback: str) -> LoadError:
    """Describe bad line ``line`` from its raw text, so the message shows what the file holds."""
    fields = _raw_line(file, line).split(spec.sep)
    if len(fields) != len(spec.fields):
        return LoadError(file, field_count(spec.sep, spec.fields, len(fields)), line)
    _, checks = _parse_ratings(pd.DataFrame([fields], columns=list(spec.fields)), spec)
    failure = first_failure(checks)
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
