"""RQ workers that stop in time and outlive Redis going away for a while.

Stopping: on SIGTERM RQ's worker lets the running job finish before it exits, but a drain of
the inbox goes on while events arrive and a retrain runs for minutes, and supervisors (systemd,
Kubernetes, honcho) send SIGKILL 10-30 s after SIGTERM. So the running job is told too: a drain
asks :func:`stop_requested` between batches and hands over, and a retrain runs
:func:`interruptible`, where a stop raises :class:`JobInterrupted` and it gives up as a killed
trainer does, its lock released on the way out.

Outages: RQ retries a lost connection only while it waits for a job. When Redis goes away
during a job or RQ's bookkeeping around one, RQ logs the error and its loop ends, and the
worker process with it, although Redis may answer again a second later.
:func:`work_through_outages` starts the loop again, under the same name, once Redis answers.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis
import rq
from rq.connections import parse_connection
from rq.exceptions import StopRequested

from shared.store.client import StoreError
from shared.store.queue import KnownJobsOnly

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0  # the longest a worker waits between two attempts to reach Redis
JOB_STOP_SIGNAL = signal.SIGUSR1  # what a forking worker sends its work horse on a stop request

_stopping = threading.Event()
_interruptible = False  # the job runs inside interruptible()


class JobInterrupted(BaseException):
    """A stop request interrupted the job. A BaseException, like KeyboardInterrupt, so that
    no ``except Exception`` on the way swallows it."""


def stop_requested() -> bool:
    """Whether this process's worker was asked to stop: a job that can end early at a point of
    its choosing (the drain, between two batches) ends there."""
    return _stopping.is_set()


@contextmanager
def interruptible() -> Iterator[None]:
    """Run the block so that a stop request interrupts it at once with :class:`JobInterrupted`:
    for a job that has no early end of its own and leaves nothing half-done that the next run
    does not clean up (a retrain)."""
    global _interruptible
    if stop_requested():
        raise JobInterrupted("the worker was asked to stop")
    _interruptible = True
    try:
        yield
    finally:
        _interruptible = False


def _stop_job(signum=None, frame=None) -> None:
    """Tell the job running in this process that its worker was asked to stop."""
    _stopping.set()
    if _interruptible:
        raise JobInterrupted("the worker was asked to stop")


class _StopsOnRequestOnly:
    """What :func:`work_through_outages` needs of a worker: whether its loop ended because it
    was asked to stop (SIGTERM, SIGINT), and retries of a lost connection at most
    RECONNECT_SECONDS apart (RQ's own back-off grows to a minute). Jobs run only if they name
    one of movierec's job functions (:class:`KnownJobsOnly`). A stop request reaches the
    running job too (:func:`stop_requested`, :func:`interruptible`)."""

    max_connection_wait_time = RECONNECT_SECONDS
    stop_requested = False
    job_class = KnownJobsOnly

    def subscribe(self):
        """Open no command channel. RQ's workers listen on a pub/sub channel, in a thread, for
        the commands of ``rq``'s Python API (shutdown, kill-horse, stop-job). movierec's workers
        stop on SIGTERM instead, and that thread made a stop hang for up to a minute: on its
        way out RQ stops it, and redis-py's ``PubSubWorkerThread.stop`` (8.2) waits for a
        thread that may wait out RQ's whole 60 s poll for the subscription RQ has just ended."""

    def request_stop(self, signum, frame):
        self.stop_requested = True
        super().request_stop(signum, frame)  # raises StopRequested unless a job runs
        self.stop_job()


class SimpleWorker(_StopsOnRequestOnly, rq.SimpleWorker):
    """RQ's SimpleWorker (jobs run in the worker process, on the thread signals reach)."""

    def stop_job(self):
        _stop_job()


class ForkingWorker(_StopsOnRequestOnly, rq.Worker):
    """RQ's Worker (each job in a forked work horse, told of a stop by JOB_STOP_SIGNAL)."""

    def stop_job(self):
        if self.horse_pid:
            with suppress(ProcessLookupError):
                os.kill(self.horse_pid, JOB_STOP_SIGNAL)

    def setup_work_horse_signals(self):
        super().setup_work_horse_signals()
        signal.signal(JOB_STOP_SIGNAL, _stop_job)


def run_worker(queue: rq.Queue, burst: bool = False, fork: bool = False,
               name: str | None = None) -> None:
    """Work through ``queue`` until asked to stop, or with ``burst`` until it is empty, through
    Redis outages. ``fork``: each job in a forked work horse (RQ's Worker) rather than in this
    process (RQ's SimpleWorker: faster, for short trusted jobs)."""
    worker_class = ForkingWorker if fork else SimpleWorker
    connection = waiting_client(queue.connection)
    queue = rq.Queue(queue.name, connection=connection, serializer=queue.serializer)
    work_through_outages(worker_class([queue], connection=connection,
                                      serializer=queue.serializer, name=name or new_worker_name()),
                         burst=burst)


def waiting_client(client: redis.Redis) -> redis.Redis:
    """A client of ``client``'s Redis without a socket timeout, for RQ's loop to set its own.
    RQ waits on its queues for up to its dequeue timeout (405 s) and raises its pool's socket
    timeout above that; redis-py 8 keeps a connection's first timeout (its default, 5 s) as the
    one to go back to, so an idle worker's wait timed out every 5 s, RQ's loop ended ("Redis
    connection timeout, quitting...") and started again. Made from the settings RQ itself
    rebuilds a connection from in a work horse."""
    redis_class, connection_class, kwargs = parse_connection(client)
    kwargs["socket_timeout"] = None
    return redis_class(connection_pool=redis.ConnectionPool(connection_class=connection_class,
                                                            **kwargs))


def new_worker_name() -> str:
    """A worker name as RQ makes one, to know it before the worker starts."""
    return uuid.uuid4().hex


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


def _wait_for_redis(ended: SimpleWorker | ForkingWorker) -> bool:
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
        with suppress(*StoreError):
            ended.teardown()
        return False
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
