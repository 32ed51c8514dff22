"""The RQ queue, built one way for the API (enqueue) and the workers (consume).

Accepted events wait in a Redis list (the inbox) and one queued drain job at a time applies
them in batches, so a burst of single-event requests costs a handful of jobs, not one each
(RQ-FACTS.md: a worker runs a few hundred jobs a second). Jobs are JSON (``JSONSerializer``):
nothing is pickled across the process boundary.
"""
from __future__ import annotations

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from shared.config import Settings

DRAIN_EVENTS_JOB = "worker.jobs.drain_events"  # by name: the API never imports the worker


def events_queue(client: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=client, serializer=JSONSerializer)


def enqueue_drain(queue: Queue):
    """One job that applies whatever the inbox holds (shared.store.RatingStore.push decides
    when one is needed)."""
    return queue.enqueue(DRAIN_EVENTS_JOB, result_ttl=300, failure_ttl=7 * 24 * 3600)
