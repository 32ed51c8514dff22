"""RQ workers that outlive Redis going away for a while (a restart on its append-only file).

RQ retries a lost connection only while it waits for a job. When Redis goes away during a job
or RQ's bookkeeping around one, RQ logs the error and its loop ends, and the worker process
with it, although Redis may answer again a second later. :func:`work_through_outages` starts
the loop again, under the same name, once Redis answers.
"""
from __future__ import annotations

import logging
import signal
import time
from contextlib import suppress

import rq
from rq.exceptions import StopRequested

from shared.store.client import StoreError
from shared.store.queue import KnownJobsOnly

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0  # the longest a worker waits between two attempts to reach Redis


class _StopsOnRequestOnly:
    """What :func:`work_through_outages` needs of a worker: whether its loop ended because it
    was asked to stop (SIGTERM, SIGINT), and retries of a lost connection at most
    RECONNECT_SECONDS apart (RQ's own back-off grows to a minute). Jobs run only if they name
    one of movierec's job functions (:class:`KnownJobsOnly`)."""

    max_connection_wait_time = RECONNECT_SECONDS
    stop_requested = False
    job_class = KnownJobsOnly

    def request_stop(self, signum, frame):
        self.stop_requested = True
        super().request_stop(signum, frame)


class SimpleWorker(_StopsOnRequestOnly, rq.SimpleWorker):
    """RQ's SimpleWorker (jobs run in the worker process)."""


class ForkingWorker(_StopsOnRequestOnly, rq.Worker):
    """RQ's Worker (each job in a forked work horse)."""


def work_through_outages(rq_worker: SimpleWorker | ForkingWorker, burst: bool = False) -> None:
    """Run ``rq_worker``'s loop until it is asked to stop or, with ``burst``, until its queues
    are empty. When the loop ends on an error instead (Redis went away in the middle of a job),
    wait until Redis answers, record that worker's end and run a new one like it, under the
    same name. With ``burst`` an error ends the run, as before."""
    while True:
        try:
            rq_worker.work(burst=burst, logging_level="WARNING")
        except StoreError as exc:  # RQ could not even record its end: Redis is away
            if burst:
                raise
            log.warning("worker %s: Redis is away (%s)", rq_worker.name, exc)
        if burst or rq_worker.stop_requested:
            return
        log.warning("worker %s: RQ's loop ended on an error (logged above); starting again "
                    "once Redis answers", rq_worker.name)
        if not _wait_for_redis(rq_worker):
            return
        rq_worker = type(rq_worker)(rq_worker.queues, connection=rq_worker.connection,
                                    serializer=rq_worker.serializer, name=rq_worker.name)


def _wait_for_redis(ended: rq.Worker) -> bool:
    """Wait until Redis answers and the ``ended`` worker's registration is closed (so its name
    can register again); False when a stop is asked for meanwhile."""
    def stop(signum, frame):
        raise StopRequested()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                ended.connection.ping()
                ended.teardown()  # what its loop could not do: register its death, unsubscribe
                return True
            except StoreError:
                time.sleep(RECONNECT_SECONDS)
    except StopRequested:
        with suppress(StoreError):
            ended.teardown()
        return False
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
