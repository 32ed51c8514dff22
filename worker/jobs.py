"""RQ job functions. Arguments and results are JSON; effects are idempotent (at-least-once)."""
from __future__ import annotations

import redis
from rq import get_current_job

from shared import config
from shared.keys import Keys
from shared.store import RatingStore


def current_store() -> RatingStore:
    """The ratings store on the Redis connection of the running job."""
    settings = config.load()
    job = get_current_job()
    client = job.connection if job is not None else redis.Redis.from_url(settings.redis_url)
    return RatingStore(client, Keys(settings.key_prefix))


def apply_events(events: list) -> dict:
    """Apply a batch of wire-form events (see shared.events) in one Lua script call."""
    result = current_store().apply_wire(events)
    return {"applied": result.applied, "skipped": result.skipped}
