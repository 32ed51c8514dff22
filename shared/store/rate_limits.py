"""Where flask-limiter keeps its counters: the store's Redis, under the store's prefix."""
from __future__ import annotations

import redis

from shared.store.keys import Keys


def limiter_storage(client: redis.Redis, keys: Keys) -> dict:
    """flask-limiter's storage settings: its counters on ``client``'s connections (one pool to
    reconnect after a Redis restart, not two), named under ``keys.rate_limits``."""
    return {"storage_uri": "redis://",
            "storage_options": {"connection_pool": client.connection_pool,
                                "key_prefix": keys.rate_limits}}
