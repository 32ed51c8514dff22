"""The access log: a line per request (JSON with ``MOVIEREC_LOG_FORMAT=json``) with what an
operator filters on: endpoint, status, duration, the key's id (never the key) and request id."""
from __future__ import annotations

import logging
import time

from flask import g, request

from api import auth

log = logging.getLogger("movierec.access")


def start_timer() -> None:
    g.access_started = time.perf_counter()


def write(response):
    started = g.get("access_started")
    if started is not None and log.isEnabledFor(logging.INFO):
        _, key_id = auth.caller()
        log.info("%s %s %d", request.method, request.path, response.status_code, extra={
            "method": request.method, "path": request.path, "status": response.status_code,
            "endpoint": request.endpoint, "duration_ms": round((time.perf_counter() - started) * 1e3, 2),
            "remote": request.remote_addr, "key": key_id, "bytes": response.content_length})
    return response
