"""Reads of the cached recommendation lists (``Keys.recommendations_cache``) that several
requests of one process share: one round trip for all of them."""
from __future__ import annotations

import redis


def cached_responses(client: redis.Redis, entries: list[tuple[str, str]]) -> list[bytes | None]:
    """``HGET key field`` for every ``(key, field)`` entry, in one round trip."""
    if len(entries) == 1:
        return [client.hget(*entries[0])]
    pipe = client.pipeline(transaction=False)
    for key, field in entries:
        pipe.hget(key, field)
    return pipe.execute()
