"""``movierec worker``: an RQ worker applying event batches (JSON jobs)."""
from __future__ import annotations

import logging
import threading
import time

import click
from rq import SimpleWorker, Worker

from movierec.commands import connect
from shared import config
from shared.store.keys import Keys
from shared.store.queue import events_queue, retrain_queue
from shared.store.client import StoreError
from shared.store.ratings import RatingStore

log = logging.getLogger(__name__)


def _keep_sweeping(settings) -> threading.Thread:
    """A thread that enqueues a drain whenever events wait and no drain holds the inbox (a
    drain that died let its claim lapse), every DRAIN_SWEEP_SECONDS, on a connection of its
    own: without it, a dead drain's events would wait for the next request."""
    import worker.jobs as jobs

    client = connect(settings)
    stores = jobs.Stores(RatingStore(client, Keys(settings.key_prefix)), None, None,
                         events_queue(client, settings))

    jobs.sweep_inbox(stores)  # at once: what a drain that died left is queued before we work

    def sweep():
        while True:
            time.sleep(jobs.DRAIN_SWEEP_SECONDS)
            try:
                jobs.sweep_inbox(stores)
            except StoreError as exc:  # Redis away for a moment: the next sweep tries again
                log.warning("inbox sweep: %s", exc)

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
    client = connect(settings)
    if retrains:
        import trainer.jobs  # noqa: F401  imported once, not by each job
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        logging.getLogger("trainer").setLevel(logging.INFO)  # each stage and its duration
        queue = retrain_queue(client, settings)
    else:
        import worker.jobs  # noqa: F401  the jobs' imports (about 1 s) paid at start, not by the first events
        single_threaded_blas()
        queue = events_queue(client, settings)
        _keep_sweeping(settings)
    worker_class = Worker if fork else SimpleWorker
    rq_worker = worker_class([queue], connection=client, serializer=queue.serializer, name=name)
    rq_worker.work(burst=burst, logging_level="WARNING")
