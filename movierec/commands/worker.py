"""``movierec worker``: an RQ worker applying event batches (JSON jobs)."""
from __future__ import annotations

import click
from rq import SimpleWorker, Worker

from movierec.commands import connect
from shared import config
from shared.queue import events_queue


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option("--fork", is_flag=True,
              help="Run each job in a forked work horse (RQ's Worker). The default, SimpleWorker, "
                   "runs jobs in-process: event batches are short and trusted, and forking costs "
                   "~12 ms a job (RQ-FACTS.md).")
@click.option("--name", default=None, help="Worker name (default: RQ's random name).")
def command(burst: bool, fork: bool, name: str | None):
    """Apply queued event batches to the ratings store in Redis."""
    settings = config.load()
    client = connect(settings)
    queue = events_queue(client, settings)
    worker_class = Worker if fork else SimpleWorker
    worker = worker_class([queue], connection=client, serializer=queue.serializer, name=name)
    worker.work(burst=burst, logging_level="WARNING")
