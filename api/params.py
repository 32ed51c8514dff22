"""Query and path parameters, validated with a 400 naming the field and the reason."""
from __future__ import annotations

import math
import re
from collections.abc import Callable

from flask import jsonify, request

from shared.data.events import MAX_ID
from shared.recsys.filters import Facets, ListFilter


class InvalidParameter(Exception):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def invalid_parameter(exc: InvalidParameter):
    return jsonify(error="invalid_parameter", field=exc.field, reason=exc.reason), 400


# What a number in a path or query may look like: ASCII digits (str.isdigit and int() also take
# other scripts' digits, and int() underscores and spaces), few enough that int() never meets
# its digit limit. MAX_ID has 16 digits.
_DIGITS = re.compile(r"[0-9]{1,20}")
_INTEGER = re.compile(r"-?[0-9]{1,20}")


def positive_id(raw: str, field: str) -> int:
    """An id from the path, ASCII digits from 1 to the bound of event ids, else 400. Routes take
    ids as strings: werkzeug's ``<int:...>`` also parses other scripts' digits ("٣" is 3) and
    answers 404 for a negative or non-numeric id."""
    value = int(raw) if _DIGITS.fullmatch(raw) else 0
    if not 1 <= value <= MAX_ID:
        raise InvalidParameter(field, f"must be a positive integer up to {MAX_ID}")
    return value


def int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise InvalidParameter(name, f"must be an integer from {low} to {high}, got {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidParameter(name, f"must be from {low} to {high}, got {value}")
    return value


def diversity_arg() -> float:
    """``diversity``, 0 (the list as ranked, the default) to 1 (:mod:`shared.recsys.diversity`)."""
    raw = request.args.get("diversity")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:  # nan too
        raise InvalidParameter("diversity", f"must be a number from 0 to 1, got {raw[:40]!r}")
    return value


def choice_arg(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = request.args.get(name, default)
    if value not in choices:
        raise InvalidParameter(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def id_list_arg(name: str, max_items: int) -> list[int]:
    raw = request.args.getlist(name)
    if not raw:
        raise InvalidParameter(name, "give at least one, e.g. ?movie_id=1&movie_id=2")
    if len(raw) > max_items:
        raise InvalidParameter(name, f"at most {max_items} per request, got {len(raw)}")
    ids = []
    for item in raw:
        if not _DIGITS.fullmatch(item) or not 1 <= int(item) <= MAX_ID:
            raise InvalidParameter(name, f"must be positive integers up to {MAX_ID}, "
                                         f"got {item[:40]!r}")
        ids.append(int(item))
    return ids


def known_args(*names: str) -> None:
    """400 for the first query parameter not among ``names``: a misspelt filter answers with
    its name rather than an unfiltered list."""
    for name in request.args:
        if name not in names:
            known = ", ".join(names) if names else "none"
            raise InvalidParameter(name, f"is not a parameter of this endpoint (known: {known})")


MAX_EXCLUDED = 500  # movie ids one request may leave out
MAX_GENRES = 100
MAX_DEPTH = 500  # offset + n: how deep a list may be paged
FILTER_ARGS = ("genre", "year_min", "year_max", "exclude")
YEARS = (1870, 2100)  # as a movie's year (PUT /v1/movies/<id>)


def list_filter(facets: Callable[[], Facets]) -> ListFilter:
    """The filters of a list request: ``genre`` (repeatable, any of them, a genre some movie of
    the catalogue has, in any case), ``year_min`` and ``year_max`` (inclusive), ``exclude``
    (movie ids, repeatable or comma-separated, up to ``MAX_EXCLUDED``). ``facets`` gives the
    catalogue's (read only when genres are named)."""
    genres = []
    if len(request.args.getlist("genre")) > MAX_GENRES:
        raise InvalidParameter("genre", f"at most {MAX_GENRES} genres")
    for raw in request.args.getlist("genre"):
        genre = raw.strip().lower()
        if not genre or len(genre) > 100:
            raise InvalidParameter("genre", "must be a genre name of 1 to 100 characters")
        genres.append(genre)
    unknown = facets().unknown_genres(genres) if genres else []
    if unknown:
        names = ", ".join(sorted(facets().genre_names.values()))
        raise InvalidParameter("genre", f"no movie has the genre {unknown[0]!r} (genres: {names})")
    year_min = int_arg("year_min", None, *YEARS)
    year_max = int_arg("year_max", None, *YEARS)
    if year_min is not None and year_max is not None and year_min > year_max:
        raise InvalidParameter("year_max", f"must not be before year_min ({year_min}), "
                                           f"got {year_max}")
    excluded = [item for raw in request.args.getlist("exclude") for item in raw.split(",")]
    if len(excluded) > MAX_EXCLUDED:
        raise InvalidParameter("exclude", f"at most {MAX_EXCLUDED} movie ids, got {len(excluded)}")
    exclude = set()
    for item in excluded:
        item = item.strip()
        if not _DIGITS.fullmatch(item) or not 1 <= int(item) <= MAX_ID:
            raise InvalidParameter("exclude", f"must be movie ids, positive integers up to "
                                              f"{MAX_ID}, got {item[:40]!r}")
        exclude.add(int(item))
    return ListFilter(frozenset(genres), year_min, year_max, frozenset(exclude))


def page_args(default_n: int = 10) -> tuple[int, int]:
    """``n`` and ``offset`` of a paged list: page k of size n is ``offset=(k - 1) * n``; a
    list goes at most ``MAX_DEPTH`` deep."""
    n = int_arg("n", default_n, 1, 100)
    offset = int_arg("offset", 0, 0, MAX_DEPTH - n)
    return n, offset
