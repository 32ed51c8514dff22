"""Every request has an id: the client's ``X-Request-ID`` when it sends a sensible one, else a
new one; it comes back in the response's header, and the API's log lines carry it, so one
request can be followed from the client through the logs."""
from __future__ import annotations

import itertools
import logging
import os
import re

from flask import g

HEADER = "X-Request-ID"
ENVIRON_KEY = "HTTP_X_REQUEST_ID"  # the header as WSGI hands it over (cheaper to read there)
ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _NewIds:
    """Ids made here: 16 random hex digits drawn once per process, then 16 of a counter.
    Unique without a system call per request, which uuid4 makes (it must be unique, not
    secret)."""

    def __init__(self):
        self.draw()
        os.register_at_fork(after_in_child=self.draw)  # gunicorn's workers draw their own

    def draw(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def __next__(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


NEW_IDS = _NewIds()


def of(environ: dict) -> str:
    """The id of the request of this WSGI ``environ``: the client's, or a new one."""
    given = environ.get(ENVIRON_KEY)
    return given if given and ACCEPTED.fullmatch(given) else next(NEW_IDS)


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
