"""``movierec worker``: an RQ worker applying event batches (JSON jobs), or running retrains."""
from __future__ import annotations

import click

from movierec.commands import connect
from movierec.logs import configure as configure_logging
from shared import config


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option("--fork", is_flag=True,
              help="Run each job in a forked work horse (RQ's Worker). The default, SimpleWorker, "
                   "runs jobs in-process: event batches are short and trusted, and forking costs "
                   "~12 ms a job.")
@click.option("--name", default=None, help="Worker name (default: RQ's random name).")
@click.option("--retrains", is_flag=True,
              help="Run the retrains `movierec scheduler` enqueues, one at a time, instead of "
                   "event batches.")
def command(burst: bool, fork: bool, name: str | None, retrains: bool):
    """Apply queued event batches to the ratings store in Redis (or, with --retrains, run
    the queued retrains). SIGTERM or Ctrl-C stops it within seconds: a drain hands the rest of
    the inbox over to the next worker, a retrain gives up and leaves nothing behind."""
    settings = config.load()
    configure_logging(settings, "trainer" if retrains else "worker")  # the trainer logs each stage
    stores = connect(settings)  # a clean error when Redis does not answer
    if retrains:
        import trainer.jobs  # noqa: F401  imported once, not by each job
        from shared.store.rq_workers import run_worker

        run_worker(stores.retrain_queue, burst, fork, name)
    else:
        from worker import process

        process.run(settings, burst=burst, fork=fork, name=name)
