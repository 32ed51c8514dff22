"""The RQ queue events travel on, built one way for the API (enqueue) and the workers (consume).

Jobs are JSON (``JSONSerializer``): nothing is pickled across the process boundary.
"""
from __future__ import annotations

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from shared.config import Settings

APPLY_EVENTS_JOB = "worker.jobs.apply_events"  # by name: the API never imports the worker


def events_queue(client: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=client, serializer=JSONSerializer)
