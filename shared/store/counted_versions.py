"""Which model versions the partitions' scripts keep cluster counters for.

The active and building pointers are global keys, out of a partition's slot, so each partition
holds its own copy: a hash version -> until when (ms since the epoch; 0 for good). The copies
are written before the global pointers when a version is added, and after them when one is
taken away, so a partition always counts at least the versions the pointers name; counting
more is harmless (the merge passes such deltas over). A version being built is counted for
twice the trainer lock's expiry, renewed with the lock: it outlives the lock, never the
reverse.
"""
from __future__ import annotations

import time

import redis

from shared.store.keys import Keys


class CountedVersions:
    def __init__(self, client: redis.Redis, keys: Keys):
        self.redis = client
        self.keys = keys

    def count(self, version: str, for_ms: int | None = None) -> None:
        """Every partition counts ``version``, for ``for_ms`` (None: for good)."""
        until = 0 if for_ms is None else int(time.time() * 1000) + for_ms
        with self.redis.pipeline(transaction=False) as pipe:
            for partition in range(self.keys.partitions):
                pipe.hset(self.keys.counted_versions(partition), version, until)
            pipe.execute()

    def keep_only(self, versions: set[str]) -> None:
        """Every partition stops counting the versions but ``versions``."""
        with self.redis.pipeline(transaction=False) as pipe:
            for partition in range(self.keys.partitions):
                pipe.hkeys(self.keys.counted_versions(partition))
            counted = pipe.execute()
        with self.redis.pipeline(transaction=False) as pipe:
            for partition, names in enumerate(counted):
                stale = [name for name in names if name.decode() not in versions]
                if stale:
                    pipe.hdel(self.keys.counted_versions(partition), *stale)
            pipe.execute()

    def stop(self, version: str) -> None:
        """No partition counts ``version`` any more."""
        with self.redis.pipeline(transaction=False) as pipe:
            for partition in range(self.keys.partitions):
                pipe.hdel(self.keys.counted_versions(partition), version)
            pipe.execute()

    def of(self, partition: int) -> dict[str, int]:
        """version -> until (ms; 0 for good), as ``partition`` holds them."""
        return {v.decode(): int(u) for v, u in
                self.redis.hgetall(self.keys.counted_versions(partition)).items()}
