"""Small text tables (the movies, genres and tags files), read whole as strings.

Every row keeps its 1-based line number as its index, so a later check can still name the line.
"""
from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from shared.data.column_checks import Check, field_count, first_failure, integers
from shared.data.errors import LoadError


def read_table(file: Path, sep: str, fields: tuple[str, ...], *, header: bool,
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


def ids(file: Path, table: pd.DataFrame, field: str, unique: bool = False) -> np.ndarray:
    """Column ``field`` of a table from :func:`read_table` as positive int64 ids."""
    checks: list[Check] = []
    numbers = integers(table[field], field, 1, checks)
    failure = first_failure(checks)
    if failure is not None:
        raise LoadError(file, failure[1], int(table.index[failure[0]]))
    numbers = numbers.astype(np.int64)
    if unique:
        repeated = pd.Series(numbers).duplicated().to_numpy()
        if repeated.any():
            i = int(np.argmax(repeated))
            raise LoadError(file, f"{field} {numbers[i]} appears twice", int(table.index[i]))
    return numbers


def _decode(file: Path) -> str:
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _split_line(line: str, sep: str, quoted: bool) -> list[str]:
    return next(csv.reader([line], delimiter=sep)) if quoted else line.split(sep)


def _read_quoted(file: Path, text: str, lines: list[str], columns: list[str],
                 first: int) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(io.StringIO(text), skiprows=first - 1, header=None, names=columns,
                                dtype=str, keep_default_na=False, na_values=[""],
                                skip_blank_lines=False, index_col=False, engine="c")
    except pd.errors.ParserWarning:  # extra fields on the first line: pandas would drop them
        got = len(_split_line(lines[first - 1].rstrip("\r"), ",", True))
        raise LoadError(file, field_count(",", columns, got), first) from None
    except pd.errors.ParserError as error:
        found = re.search(r"Expected \d+ fields in line (\d+), saw (\d+)", str(error))
        if found is None:
            raise LoadError(file, f"cannot parse: {error}") from None
        raise LoadError(file, field_count(",", columns, int(found.group(2))),
                        int(found.group(1)) + first - 1) from None
    table.index = pd.RangeIndex(first, first + len(table))
    table = table[table.notna().any(axis=1)]
    # A missing last field reads like an empty one: count the fields of those few lines.
    for line in table.index[table[columns[-1]].isna()]:
        got = len(_split_line(lines[line - 1].rstrip("\r"), ",", True))
        if got != len(columns):
            raise LoadError(file, field_count(",", columns, got), int(line))
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
        raise LoadError(file, field_count(sep, columns, int(counts[line])), line)
    if free is None or columns.index(free) == n - 1:
        parts = body.str.split(sep, n=n - 1, regex=False, expand=True)
    else:
        k = columns.index(free)
        left = body.str.split(sep, n=k, regex=False, expand=True) if k else body.to_frame(0)
        right = left[k].str.rsplit(sep, n=n - k - 1, expand=True)
        parts = pd.concat([left.iloc[:, :k], right.set_axis(range(k, n), axis=1)], axis=1)
    return parts.set_axis(columns, axis=1)
