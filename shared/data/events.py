"""The event contract: validation of what apps post, and the compact wire form for Redis.

An event is ``{type: rating|favourite|unfavourite, user_id, movie_id, rating?, ts?, event_id?}``;
the API itself also sends ``remove`` events (the DELETE of one rating), which apps cannot post.
Validation happens whole-request-first: the first bad event rejects everything (DESIGN.md).
On the wire (the inbox's items and the ratings script's arguments) an event is the JSON list
``[type, user_id, movie_id, half_stars, ts, event_id]`` with ids as strings.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from shared.config import Settings
from shared.recsys.ratings import RATING_MAX, RATING_MIN, RATING_STEP

EVENT_TYPES = ("rating", "favourite", "unfavourite")
MAX_EVENTS_PER_REQUEST = 1000
MAX_ID = 2**53 - 1  # ids travel through Lua as doubles
MAX_CLOCK_SKEW = Settings.max_clock_skew  # the default; the API passes the configured one
MAX_EVENT_ID_LENGTH = 128
_RATING_RANGE = f"{RATING_MIN:g} and {RATING_MAX:g}"
_RATING_GRID = f"{RATING_MIN:g}, {RATING_MIN + RATING_STEP:g}, ..., {RATING_MAX:g}"


class EventError(ValueError):
    """A bad event: ``index`` in the request (None for a single object), ``field``, ``reason``."""

    def __init__(self, field: str, reason: str, index: int | None = None):
        self.field, self.reason, self.index = field, reason, index
        where = f"event {index}: " if index is not None else ""
        super().__init__(f"{where}{field}: {reason}")

    def as_dict(self) -> dict:
        body: dict[str, str | int] = {"field": self.field, "reason": self.reason}
        if self.index is not None:
            body["index"] = self.index
        return body


@dataclass(frozen=True)
class Event:
    type: str
    user_id: int
    movie_id: int
    half_stars: int = 0  # rating x 2; 0 when the event carries no rating
    ts: float = 0.0
    event_id: str = ""

    @property
    def rating(self) -> float | None:
        return self.half_stars / 2 if self.half_stars else None

    def wire(self) -> list:
        return [self.type, str(self.user_id), str(self.movie_id), self.half_stars, self.ts,
                self.event_id]


def _positive_id(obj: dict, field: str) -> int:
    value = obj.get(field)
    if value is None:
        raise EventError(field, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventError(field, f"must be a positive integer, got {type(value).__name__}")
    if not 1 <= value <= MAX_ID:
        raise EventError(field, f"must be a positive integer up to {MAX_ID}, got {value}")
    return value


def half_stars(value) -> int:
    """Rating on the half-star grid of the rating scale as an integer count of half stars."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EventError("rating", f"must be a number between {_RATING_RANGE}")
    if not RATING_MIN <= value <= RATING_MAX:
        raise EventError("rating", f"must be between {_RATING_RANGE}, got {value}")
    if value % RATING_STEP:
        raise EventError("rating", f"must be on the half-star grid ({_RATING_GRID}), got {value}")
    return int(value * 2)


def is_unicode(text: str) -> bool:
    """False for a string with a lone surrogate (JSON's ``"\\ud800"``): Python decodes one,
    but UTF-8 cannot carry it (Redis clients refuse it, the drain script's cjson too)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_event(obj, now: float | None = None, max_skew: float = MAX_CLOCK_SKEW) -> Event:
    """One event object to an :class:`Event`, or :class:`EventError` naming the field. ``ts``
    may not be later than ``now`` plus ``max_skew`` seconds: a rating stamped in the future
    would win over every change made until then."""
    if not isinstance(obj, dict):
        raise EventError("event", f"must be a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - {"type", "user_id", "movie_id", "rating", "ts", "event_id"})
    if unknown:
        raise EventError(unknown[0], "is not a field of an event")
    kind = obj.get("type")
    if kind is None:
        raise EventError("type", "is required")
    if kind not in EVENT_TYPES:
        raise EventError("type", f"must be one of {', '.join(EVENT_TYPES)}, got {kind!r}")
    user_id = _positive_id(obj, "user_id")
    movie_id = _positive_id(obj, "movie_id")
    rating = obj.get("rating")
    if kind == "rating":
        if rating is None:
            raise EventError("rating", "is required for a rating event")
        half = half_stars(rating)
    else:
        if rating is not None:
            raise EventError("rating", f"is only allowed on rating events, not {kind}")
        half = 0
    ts = obj.get("ts")
    now = time.time() if now is None else now
    if ts is None:
        ts = round(now, 3)
    elif (isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts)
          or ts < 0):
        raise EventError("ts", "must be a non-negative number of seconds since 1970")
    elif ts > now + max_skew:
        raise EventError("ts", f"is {ts - now:,.0f} s in the future; at most {max_skew:g} s "
                               f"ahead of the server's clock")
    event_id = obj.get("event_id")
    if event_id is None:
        event_id = ""
    elif not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_EVENT_ID_LENGTH:
        raise EventError("event_id", f"must be a string of 1 to {MAX_EVENT_ID_LENGTH} characters")
    elif not is_unicode(event_id):
        raise EventError("event_id", "must be valid Unicode text, without a lone surrogate "
                                     "(\\ud800-\\udfff)")
    return Event(kind, user_id, movie_id, half, float(ts), event_id)


def validate_events(payload, now: float | None = None,
                    max_skew: float = MAX_CLOCK_SKEW) -> list[Event]:
    """A request body (one object or an array of up to 1,000) to events; all or nothing."""
    if isinstance(payload, dict):
        return [validate_event(payload, now, max_skew)]
    if not isinstance(payload, list):
        raise EventError("body", "must be an event object or an array of event objects")
    if not payload:
        raise EventError("body", "must not be an empty array")
    if len(payload) > MAX_EVENTS_PER_REQUEST:
        raise EventError("body", f"holds {len(payload)} events; at most "
                                 f"{MAX_EVENTS_PER_REQUEST} per request")
    events = []
    for index, obj in enumerate(payload):
        try:
            events.append(validate_event(obj, now, max_skew))
        except EventError as exc:
            raise EventError(exc.field, exc.reason, index) from None
    return events
