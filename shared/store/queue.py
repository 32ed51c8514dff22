"""The RQ queue, built one way for the API (enqueue) and the workers (consume).

Accepted events wait in a Redis list (the inbox) and one queued drain job at a time applies
them in batches, so a burst of single-event requests costs a handful of jobs, not one each
(RQ-FACTS.md: a worker runs a few hundred jobs a second). Jobs are JSON (``JSONSerializer``):
nothing is pickled across the process boundary.
"""
from __future__ import annotations

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from shared.config import Settings

DRAIN_EVENTS_JOB = "worker.jobs.drain_events"  # by name: the API never imports the worker
RETRAIN_JOB = "trainer.jobs.retrain"              # by name, for the scheduler and the API
ACTIVATE_JOB = "trainer.jobs.activate"            # a rollback, asked for over HTTP
KNOWN_JOBS = frozenset({DRAIN_EVENTS_JOB, RETRAIN_JOB, ACTIVATE_JOB})
RETRAIN_TIMEOUT = 6 * 3600                        # seconds a retrain may run (5M ratings: ~5 min)
KEEP_RETRAIN_JOBS = 7 * 24 * 3600                 # their results and failures, seconds


class UnknownJob(Exception):
    """A job naming a function that is not one of movierec's jobs."""


class KnownJobsOnly(Job):
    """A job that runs only movierec's own job functions, and no callbacks: RQ imports and
    calls whatever function a job names, so without this whoever can write to Redis could run
    any code on the workers. The workers use this job class."""

    @property
    def func(self):
        if self.func_name not in KNOWN_JOBS or self.instance is not None:
            raise UnknownJob(f"refused to run {self.func_name!r}: not a movierec job "
                             f"({', '.join(sorted(KNOWN_JOBS))})")
        return super().func

    def _refuse_callback(self, name):
        if name:
            raise UnknownJob(f"refused callback {name!r}: movierec jobs have none")

    @property
    def success_callback(self):
        self._refuse_callback(self._success_callback_name)

    @property
    def failure_callback(self):
        self._refuse_callback(self._failure_callback_name)

    @property
    def stopped_callback(self):
        self._refuse_callback(self._stopped_callback_name)


def events_queue(client: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=client, serializer=JSONSerializer)


def enqueue_drain(queue: Queue, lane: int = 0):
    """One job that applies whatever the inbox of ``lane``'s partitions holds
    (shared.store.inbox.Inbox.push decides when one is needed)."""
    return queue.enqueue(DRAIN_EVENTS_JOB, kwargs={"lane": lane}, result_ttl=300,
                         failure_ttl=7 * 24 * 3600)


def retrain_queue(client: redis.Redis, settings: Settings) -> Queue:
    """Retrains wait here for ``movierec worker --retrains``, apart from the events: a retrain
    runs for minutes, and event batches must not wait behind it."""
    return Queue(f"{settings.queue_name}-retrain", connection=client, serializer=JSONSerializer)


def enqueue_retrain(queue: Queue, reason: str):
    """A retrain job; ``reason`` says what asked for it (a schedule slot, an operator)."""
    return queue.enqueue(RETRAIN_JOB, kwargs={"reason": reason}, job_timeout=RETRAIN_TIMEOUT,
                         result_ttl=KEEP_RETRAIN_JOBS, failure_ttl=KEEP_RETRAIN_JOBS,
                         description=f"retrain ({reason})")


def enqueue_activation(queue: Queue, version: str):
    """A job that makes a kept version active again (its counters rebuilt first)."""
    return queue.enqueue(ACTIVATE_JOB, kwargs={"version": version}, job_timeout=RETRAIN_TIMEOUT,
                         result_ttl=KEEP_RETRAIN_JOBS, failure_ttl=KEEP_RETRAIN_JOBS,
                         description=f"activate {version}")


def job_status(queue: Queue, job_id: str) -> dict | None:
    """What a retrain or activation job is doing: its status, stage, result or error (the
    last line of it); None for a job this queue does not know."""
    try:
        job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    except NoSuchJobError:
        return None
    if job.origin != queue.name:
        return None
    status = job.get_status(refresh=False)
    latest = job.latest_result() if status == "failed" else None
    error = latest.exc_string if latest else None
    return {"job_id": job.id, "description": job.description,
            "status": str(getattr(status, "value", status)),
            "stage": job.meta.get("stage"), "result": job.return_value(refresh=False),
            "error": error.strip().splitlines()[-1] if error else None,
            "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
            "ended_at": job.ended_at.isoformat() if job.ended_at else None}
