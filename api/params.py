"""Query and path parameters, validated with a 400 naming the field and the reason."""
from __future__ import annotations

import re

from flask import jsonify, request

from shared.data.events import MAX_ID


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


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise InvalidParameter(name, f"must be an integer from {low} to {high}, got {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidParameter(name, f"must be from {low} to {high}, got {value}")
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
