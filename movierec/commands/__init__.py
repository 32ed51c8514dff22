"""One module per ``movierec`` command, each exposing a click command named ``command``."""
from __future__ import annotations

import click
import redis

from shared.config import Settings


def connect(settings: Settings) -> redis.Redis:
    """A client for ``REDIS_URL`` that answered PING, or a clean error naming the URL."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot reach Redis at REDIS_URL={settings.redis_url}: {exc}")
    return client
