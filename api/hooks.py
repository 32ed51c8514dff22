"""What every request passes before its view and after it, as one hook each way.

Flask runs each hook it holds through a loop and a coroutine check, and each read of
``request`` or ``g`` goes through a context-local lookup: as eight hooks, the same steps cost
a cached GET about 20 us more of its 275 in process (docs/live-benchmark.md). Here the
request, its ``g`` and the clock are read once and handed to each step. Before the view: the
request id (:mod:`api.request_id`), who is calling (:mod:`api.auth`), the route's entry in
:data:`api.routes.ROUTES` (one lookup for both checks), its rate limits (:mod:`api.limits`,
before the key check, so that guessing keys is limited too) and the key check. After it: the
request id echoed, the metrics (:mod:`api.metrics`) and the access log (:mod:`api.access_log`,
when it is on).
"""
from __future__ import annotations

import time

from flask import g, request

from api import metrics, request_id
from api.access_log import AccessLog
from api.auth import NO_KEY, Keyring
from api.limits import RateLimits
from api.routes import ROUTES, UNDECLARED


class RequestHooks:
    def __init__(self, keyring: Keyring, limits: RateLimits, access_log: AccessLog | None):
        self.keyring = keyring
        self.limits = limits
        self.access_log = access_log

    def before(self):
        """None to go on to the view, or the answer that refuses the request."""
        req, context = request._get_current_object(), g._get_current_object()
        environ = req.environ
        context.started = time.perf_counter()
        context.request_id = request_id.of(environ)
        context.caller = caller = self.keyring.caller(environ)
        route = ROUTES.get(req.endpoint, UNDECLARED)
        return ((route.limited and self.limits.check(caller.key_id, req.remote_addr))
                or self.keyring.check(route.access, caller))

    def after(self, response):
        req, context = request._get_current_object(), g._get_current_object()
        started = getattr(context, "started", None)
        if started is None:  # (an error came before the hook ran)
            return response
        seconds = time.perf_counter() - started
        response.headers[request_id.HEADER] = context.request_id
        rule = req.url_rule
        metrics.observe(rule.endpoint if rule else "unmatched", req.method,
                        response.status_code, seconds)
        if self.access_log is not None:
            self.access_log.write(req, response, seconds, context.request_id,
                                  getattr(context, "caller", NO_KEY).key_id)
        return response
