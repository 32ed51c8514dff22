"""Column parsers that check every row at once.

Each parser turns one column of a chunk into numbers and appends the checks its rows must pass
as (rows that fail, reason for row i) pairs; :func:`first_failure` then names the first bad row
and the first thing wrong with it, so a whole chunk is checked without a Python loop per line.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from shared.recsys.ratings import RATING_MAX

Check = tuple[np.ndarray, Callable[[int], str]]

_DATE_FIELDS = ("date_year", "date_month", "date_day", "date_hour", "date_minute", "date_second")


def _shown(value) -> str:
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        value = int(value)
    return repr(str(value))


def _empty(values: pd.Series) -> np.ndarray:
    missing = values.isna().to_numpy()
    if not pd.api.types.is_numeric_dtype(values.dtype):
        missing = missing | (values.astype(str).str.strip() == "").to_numpy()
    return missing


def integers(values: pd.Series, field: str, lowest: int, checks: list[Check]) -> np.ndarray:
    """``values`` as numbers that must be whole and at least ``lowest`` (0 or 1)."""
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


def rating_values(values: pd.Series, field: str, step: float, checks: list[Check]) -> np.ndarray:
    """``values`` as ratings from ``step`` to the top of the scale in steps of ``step``."""
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
        ((numbers < step) | (numbers > RATING_MAX),
         lambda i: f"{field} {_shown(values.iloc[i])} is not between {step:g} and {RATING_MAX:g}"),
        (off_step, lambda i: f"{field} {_shown(values.iloc[i])} is not {unit}"),
    ]
    return numbers


def date_seconds(frame: pd.DataFrame, checks: list[Check]) -> np.ndarray:
    """Unix seconds of hetrec's date_* columns, read as UTC."""
    parts = {field: integers(frame[field], field, 0, checks) for field in _DATE_FIELDS}
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


def first_failure(checks: list[Check]) -> tuple[int, str] | None:
    """Position of the first row failing any check, and the reason of the first check it fails."""
    if not checks:
        return None
    bad = np.logical_or.reduce([mask for mask, _ in checks])
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    return i, next(reason(i) for mask, reason in checks if mask[i])


def field_count(sep: str, fields, got: int) -> str:
    """The reason given for a line with ``got`` fields instead of ``fields``."""
    return f"expected {len(fields)} fields ({', '.join(fields)}) separated by {sep!r}, got {got}"
