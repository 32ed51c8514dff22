"""The rate limiter's shared counters: one per client (key or address), limit and window."""
from __future__ import annotations

import redis

from shared.store.client import lua_script
from shared.store.keys import Keys


class RequestCounters:
    def __init__(self, client: redis.Redis, keys: Keys):
        self.keys = keys
        self._add = lua_script(client, "rate_limits.lua")

    def add(self, admitted: dict[str, tuple[int, int]]) -> dict[str, int]:
        """Add ``admitted`` (counter name -> (requests, seconds its window lasts)) in one call;
        each counter's total across every API process."""
        names = list(admitted)
        args = [x for name in names for x in admitted[name]]
        return dict(zip(names, (int(t) for t in self._add(keys=names, args=args))))
