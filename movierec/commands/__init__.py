"""One module per ``movierec`` command, each exposing a click command named ``command``."""
from __future__ import annotations

import click

from shared.config import Settings


def connect(settings: Settings):
    """A client for ``REDIS_URL`` that answered PING, or a clean error naming the URL.

    redis is imported here, not above: ``movierec serve`` must not load it (nor ssl) in the
    gunicorn master, which forks gevent workers that monkey-patch ssl after the fact."""
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot reach Redis at REDIS_URL={settings.redis_url}: {exc}")
    return client
