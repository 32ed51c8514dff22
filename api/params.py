"""Query and path parameters, validated with a 400 naming the field and the reason."""
from __future__ import annotations

from flask import jsonify, request

from shared.data.events import MAX_ID


class InvalidParameter(Exception):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def invalid_parameter(exc: InvalidParameter):
    return jsonify(error="invalid_parameter", field=exc.field, reason=exc.reason), 400


def positive_id(value: int, field: str) -> int:
    """Path ids arrive as ints via the ``<int:...>`` converter; 0 and ids beyond what an event
    may carry still need rejecting."""
    if not 1 <= value <= MAX_ID:
        raise InvalidParameter(field, f"must be a positive integer up to {MAX_ID}")
    return value


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        if not raw.strip().lstrip("+-").isascii():
            raise ValueError(raw)
        value = int(raw)
    except ValueError:
        raise InvalidParameter(name, f"must be an integer from {low} to {high}, got {raw!r}") from None
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
        if not (item.isascii() and item.isdigit()) or not 1 <= int(item) <= MAX_ID:
            raise InvalidParameter(name, f"must be positive integers up to {MAX_ID}, got {item[:40]!r}")
        ids.append(int(item))
    return ids
