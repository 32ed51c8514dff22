"""What operators watch that the workers leave in Redis: their heartbeats (is any alive?) and
how long applying a batch of events takes (a histogram /metrics shows)."""
from __future__ import annotations

import redis

from shared.store.client import lua_script
from shared.store.keys import Keys

HEARTBEAT_SECONDS = 1.0  # a worker beats this often
ALIVE_SECONDS = 5.0      # and counts as alive this long after its last beat
DRAIN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Operations:
    def __init__(self, client: redis.Redis, keys: Keys):
        self.redis = client
        self.keys = keys
        self._workers = lua_script(client, "workers.lua")

    def beat(self, worker: str) -> None:
        """Say that ``worker`` is alive now."""
        self._workers(keys=[self.keys.workers], args=["beat", ALIVE_SECONDS, worker])

    def live_workers(self) -> list[str]:
        """The workers that beat within the last ALIVE_SECONDS."""
        return [name.decode() for name in
                self._workers(keys=[self.keys.workers], args=["alive", ALIVE_SECONDS])]

    def record_drain_batch(self, seconds: float) -> None:
        """Count one drain round (a batch of each partition of its lane) that took ``seconds``
        in the histogram."""
        bucket = next((str(b) for b in DRAIN_BUCKETS if seconds <= b), "+Inf")
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.keys.drain_seconds, bucket, 1)
        pipe.hincrbyfloat(self.keys.drain_seconds, "sum", seconds)
        pipe.execute()

    def drain_histogram(self) -> tuple[list[tuple[str, int]], float]:
        """The histogram as Prometheus wants it: cumulative counts by upper bound (``+Inf``
        last), and the sum of the durations."""
        raw = {k.decode(): v for k, v in self.redis.hgetall(self.keys.drain_seconds).items()}
        buckets, running = [], 0
        for bound in [str(b) for b in DRAIN_BUCKETS] + ["+Inf"]:
            running += int(raw.get(bound, 0))
            buckets.append((bound, running))
        return buckets, float(raw.get("sum", 0.0))
