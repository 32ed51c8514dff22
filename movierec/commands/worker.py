"""``movierec worker``: an RQ worker applying event batches (JSON jobs)."""
from __future__ import annotations

import logging

import click
from rq import SimpleWorker, Worker

from movierec.commands import connect
from shared import config
from shared.store.keys import Keys
from shared.store.queue import enqueue_drain, events_queue, retrain_queue
from shared.store.ratings import DRAIN_CLAIM_SECONDS


def _resume_inbox(client, settings, queue) -> None:
    """Events left by a drain that died stay in the inbox until its claim expires and the
    next request claims again; a starting worker claims them at once."""
    keys = Keys(settings.key_prefix)
    if client.llen(keys.inbox) and client.set(keys.inbox_draining, 1, nx=True, ex=DRAIN_CLAIM_SECONDS):
        enqueue_drain(queue)


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
        _resume_inbox(client, settings, queue)
    worker_class = Worker if fork else SimpleWorker
    worker = worker_class([queue], connection=client, serializer=queue.serializer, name=name)
    worker.work(burst=burst, logging_level="WARNING")
