"""``movierec worker``: an RQ worker applying event batches (JSON jobs)."""
from __future__ import annotations

import logging
import threading
import time

import click

from movierec.commands import connect
from movierec.logs import configure as configure_logging
from shared import config
from shared.store.keys import Keys
from shared.store.queue import events_queue, retrain_queue
from shared.store.client import StoreError
from shared.store.operations import HEARTBEAT_SECONDS, Operations
from shared.store.ratings import RatingStore
from shared.store.rq_workers import ForkingWorker, SimpleWorker, work_through_outages

log = logging.getLogger(__name__)


def _keep_sweeping(settings, name: str) -> threading.Thread:
    """A thread that enqueues a drain whenever events wait and no drain holds the inbox (a
    drain that died let its claim lapse), every DRAIN_SWEEP_SECONDS, and says the worker
    ``name`` is alive every HEARTBEAT_SECONDS (/readyz asks), on a connection of its own:
    without it, a dead drain's events would wait for the next request."""
    import worker.jobs as jobs

    client = connect(settings)
    keys = Keys(settings.key_prefix)
    operations = Operations(client, keys)
    stores = jobs.Stores(RatingStore(client, keys), None, None, events_queue(client, settings),
                         operations)

    operations.beat(name)
    jobs.sweep_inbox(stores)  # at once: what a drain that died left is queued before we work

    def sweep():
        last_beat, failing = time.monotonic(), False
        while True:
            time.sleep(jobs.DRAIN_SWEEP_SECONDS)
            try:
                jobs.sweep_inbox(stores)
                if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    operations.beat(name)
                    last_beat = time.monotonic()
            except StoreError as exc:  # Redis away: the next round tries again
                if not failing:
                    log.warning("inbox sweep: %s (retrying every %g s)", exc,
                                jobs.DRAIN_SWEEP_SECONDS)
                failing = True
            else:
                if failing:
                    log.warning("inbox sweep: Redis answers again")
                failing = False

    thread = threading.Thread(target=sweep, name="inbox-sweep", daemon=True)
    thread.start()
    return thread


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option("--fork", is_flag=True,
              help="Run each job in a forked work horse (RQ's Worker). The default, SimpleWorker, "
                   "runs jobs in-process: event batches are short and trusted, and forking costs "
                   "~12 ms a job (RQ-FACTS.md).")
@click.option("--name", default=None, help="Worker name (default: RQ's random name).")
@click.option("--retrains", is_flag=True,
              help="Run the retrains `movierec scheduler` enqueues, one at a time, instead of "
                   "event batches.")
def command(burst: bool, fork: bool, name: str | None, retrains: bool):
    """Apply queued event batches to the ratings store in Redis (or, with --retrains, run
    the queued retrains)."""
    from shared.recsys.blas import single_threaded_blas

    settings = config.load()
    configure_logging(settings, "trainer" if retrains else "worker")  # the trainer logs each stage
    client = connect(settings)
    if retrains:
        import trainer.jobs  # noqa: F401  imported once, not by each job
        queue = retrain_queue(client, settings)
    else:
        import worker.jobs  # noqa: F401  the jobs' imports (about 1 s) paid at start, not by the first events
        single_threaded_blas()
        queue = events_queue(client, settings)
    worker_class = ForkingWorker if fork else SimpleWorker
    rq_worker = worker_class([queue], connection=client, serializer=queue.serializer, name=name)
    if not retrains:
        _keep_sweeping(settings, rq_worker.name)
    work_through_outages(rq_worker, burst=burst)  # RQ's loop ends when Redis goes away mid-job
