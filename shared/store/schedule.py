"""The scheduler's shared state: which retrain slots were claimed. Any number of schedulers may
run; the one whose claim of a slot succeeds enqueues its retrain, so each slot starts one."""
from __future__ import annotations

import redis

from shared.store.keys import Keys


class RetrainClaims:
    def __init__(self, client: redis.Redis, keys: Keys):
        self.redis = client
        self.keys = keys

    def claim(self, slot: str, ttl: int) -> bool:
        """True for the first caller of ``slot`` within ``ttl`` seconds."""
        return bool(self.redis.set(self.keys.retrain_slot(slot), 1, nx=True, ex=max(1, int(ttl))))
