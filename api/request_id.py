"""Every request has an id: the client's ``X-Request-ID`` when it sends a sensible one, else a
new one; it comes back in the response's header, and the API's log lines carry it, so one
request can be followed from the client through the logs."""
from __future__ import annotations

import logging
import re
import uuid

from flask import g, request

HEADER = "X-Request-ID"
ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def assign() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if ACCEPTED.fullmatch(given) else uuid.uuid4().hex


def echo(response):
    rid = g.get("request_id")
    if rid:
        response.headers[HEADER] = rid
    return response


def current() -> str | None:
    """The id of the request being answered (None outside a request)."""
    try:
        return g.get("request_id")
    except RuntimeError:
        return None


class LogFilter(logging.Filter):
    """Gives every log record the id of the request it was written for (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current()
        return True


LOG_FILTER = LogFilter()
