"""One module per ``movierec`` command, each exposing a click command named ``command``."""
from __future__ import annotations

import click

from shared.config import Settings


def redis_origin(settings: Settings) -> str:
    """Where the Redis address came from, as an error message names it."""
    if settings.redis_url_source == "REDIS_URL":
        return f"REDIS_URL={settings.redis_url}"
    if settings.redis_url_source == "default":
        return (f"{settings.redis_url} (the default: neither REDIS_URL is set nor is `make run` "
                f"up; start it, or set REDIS_URL)")
    return (f"{settings.redis_url} (from {settings.redis_url_source}, written by `make run`; "
            f"is it still running? The file is removed when it stops)")


def connect(settings: Settings):
    """The stores on the configured Redis once it answered PING, or a clean error naming the
    address and where it came from.

    The store layer is imported here, not above: ``movierec serve`` must not load redis (nor
    ssl) in the gunicorn master, which forks gevent workers that monkey-patch ssl after the
    fact."""
    from shared.store.client import StoreError
    from shared.store.layout import LayoutError
    from shared.store.stores import Stores

    try:
        stores = Stores.connect(settings)
        stores.redis.ping()
    except StoreError as exc:
        raise click.ClickException(f"cannot reach Redis at {redis_origin(settings)}: "
                                   f"{exc}") from None
    except LayoutError as exc:
        raise click.ClickException(str(exc)) from None
    return stores
