"""Rate limits (flask-limiter, counters in Redis): a request with a valid key counts against
its key, one without against its client address, across every route but the probes, the
metrics and the API document. Over the limit: 429 with ``Retry-After``."""
from __future__ import annotations

import math
import time

from flask import Flask, jsonify
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

from api import auth
from shared.store.rate_limits import limiter_storage

UNLIMITED = {"health.healthz", "health.readyz", "metrics.metrics", "openapi.document", "static"}


def init_limits(app: Flask, svc) -> Limiter:
    settings = svc.settings

    def identity() -> str:
        _, key_id = auth.caller()
        return f"key:{key_id}" if key_id else f"address:{get_remote_address()}"

    def limit() -> str:
        _, key_id = auth.caller()
        return settings.rate_limit_per_key if key_id else settings.rate_limit_per_address

    limiter = Limiter(
        identity, app=app, application_limits=[limit], strategy="fixed-window",
        # Redis away: limits go on per process in memory, and the request itself gets its 503
        in_memory_fallback_enabled=True, swallow_errors=True,
        on_breach=_too_many, **limiter_storage(svc.redis, svc.keys))
    limiter.request_filter(_unlimited)
    return limiter


def _unlimited() -> bool:
    from flask import request

    return request.endpoint in UNLIMITED


def _too_many(limit: RequestLimit):
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    response = jsonify(error="rate_limited",
                       message=f"more than {limit.limit} requests; retry in {retry_after} s")
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response
