"""Rate limits: a request with a valid key counts against its key, one without (or with a
wrong key) against its client address, on every route :data:`api.routes.ROUTES` marks
``limited`` (all but the probes, the metrics and the API document). Over the limit: 429 with
``Retry-After``.

The counts are shared by every API process through Redis, but a request does not wait for
Redis: each process counts the requests it admits and adds them to the shared counters every
SYNC_SECONDS, or as soon as it has admitted a tenth of a limit since it last did, learning the
others' counts in the same call. A round trip per request cost 0.25 ms of CPU under gunicorn,
a third of a POST (docs/live-benchmark.md); this costs a dictionary update. The price: within
a window, each process may admit up to a tenth of the limit more than the limit allows.
Limits are written as the ``limits`` library parses them (``1000/second``, ``6000 per
minute``, several joined by ``;``); windows are fixed, aligned on the clock.
"""
from __future__ import annotations

import math
import time

from flask import jsonify
from limits import parse_many

from shared.store.rate_limits import RequestCounters

SYNC_SECONDS = 0.1
SYNC_SHARE = 0.1  # of a limit admitted by one process since its last sync: sync now


class RateLimits:
    def __init__(self, svc):
        self._counters = RequestCounters(svc.redis, svc.keys)
        self._keys = svc.keys
        self._per_key = _windows(svc.settings.rate_limit_per_key)
        self._per_address = _windows(svc.settings.rate_limit_per_address)
        self._admitted: dict[str, int] = {}  # counter -> requests admitted here, not yet shared
        self._shared: dict[str, int] = {}    # counter -> its total at the last sync
        self._windows: dict[str, tuple[float, int]] = {}  # counter -> (window end, seconds)
        self._next_sync = 0.0

    def check(self, key_id: str | None, address: str | None):
        """None to go on, or the 429 answer, for a request to a limited route with the key
        ``key_id`` (None without a valid one) from ``address`` (a step of
        :class:`api.hooks.RequestHooks`)."""
        client = f"key:{key_id}" if key_id else f"address:{address or '-'}"
        now = time.time()
        counters = []
        for amount, seconds, label in self._per_key if key_id else self._per_address:
            start = int(now // seconds * seconds)
            counter = self._keys.rate_limit_counter(client, label, start)
            self._windows[counter] = (start + seconds, seconds)
            counters.append((counter, amount, label, start + seconds))
        if now >= self._next_sync:  # learn the others' counts before deciding
            self._sync(now, also=[counter for counter, *_ in counters])
        for counter, amount, label, end in counters:
            if self._shared.get(counter, 0) + self._admitted.get(counter, 0) >= amount:
                return _too_many(label, end - now)
        sync_now = False
        for counter, amount, _, _ in counters:
            admitted = self._admitted[counter] = self._admitted.get(counter, 0) + 1
            sync_now = sync_now or admitted >= max(1, amount * SYNC_SHARE)
        if sync_now:
            self._sync(now)
        return None

    def _sync(self, now: float, also: list[str] = ()) -> None:
        """Add what this process admitted to the shared counters and learn their totals (and
        those of the counters ``also``)."""
        admitted, self._admitted = self._admitted, {}
        for counter in also:
            admitted.setdefault(counter, 0)
        self._next_sync = now + SYNC_SECONDS
        # A request served while an earlier sync waited on Redis may have counted against a
        # window that sync then found over and forgot: its count no longer matters.
        windows = {c: self._windows.get(c) for c in admitted}
        live = {c: (n, window[1]) for c, n in admitted.items()
                if (window := windows[c]) is not None}
        if live:
            self._shared.update(self._counters.add(live))
        for counter in [c for c, (end, _) in self._windows.items() if end <= now]:
            self._windows.pop(counter)
            self._shared.pop(counter, None)


def _windows(text: str) -> list[tuple[int, int, str]]:
    """``(requests, window seconds, label)`` of each limit in ``text``."""
    return [(item.amount, item.get_expiry(), f"{item.amount}/{item.get_expiry()}s")
            for item in parse_many(text)]


def _too_many(label: str, seconds_left: float):
    retry_after = max(1, math.ceil(seconds_left))
    response = jsonify(error="rate_limited",
                       message=f"more than {label.replace('/', ' requests in ')}; retry in "
                               f"{retry_after} s")
    response.headers["Retry-After"] = str(retry_after)
    return response, 429
