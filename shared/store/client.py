"""A Redis client for a process that was handed no connection."""
from __future__ import annotations

import redis

from shared.config import Settings


def client_for(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url)
