"""``movierec scheduler``: enqueue retrains on the configured schedule (any number may run)."""
from __future__ import annotations

import logging
import signal
import time

import click

from movierec.commands import connect
from movierec.logs import configure as configure_logging
from shared import config

log = logging.getLogger("movierec.scheduler")

TICK_SECONDS = 1.0
SWEEP_EVERY = 10  # ticks between sweeps of what dead trainers left


@click.command("scheduler")
def command():
    """Enqueue a retrain every $MOVIEREC_RETRAIN_EVERY (6h; 0: never), at the times of
    $MOVIEREC_RETRAIN_CRON (UTC) and after $MOVIEREC_RETRAIN_AFTER_EVENTS new events (50000;
    0: never); `movierec worker --retrains` runs them. Two schedulers at once start one retrain
    per due time, not two. Also discards what a killed trainer left once its lock lapsed."""
    from shared.store.queue import enqueue_retrain
    from trainer.retrain import sweep_dead_runs
    from trainer.scheduler import Schedule, Scheduler

    settings = config.load()
    configure_logging(settings, "scheduler")
    try:
        schedule = Schedule(settings.retrain_every, settings.retrain_cron,
                            settings.retrain_after_events)
    except ValueError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    stores = connect(settings)
    store, models, queue = stores.ratings, stores.models, stores.retrain_queue
    started_with = store.events_applied()

    def new_events():
        since = models.snapshot_events()
        return (started_with if since is None else since), store.events_applied()

    scheduler = Scheduler(schedule, stores.retrain_claims.claim,
                          lambda slot: enqueue_retrain(queue, slot).id, new_events, time.time())
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    log.info("retrains %s, into queue %s", schedule.describe(), queue.name)
    ticks = 0
    while not stopping:
        for slot, job_id in scheduler.tick(time.time()):
            log.info("retrain for %s enqueued as job %s", slot, job_id)
        if ticks % SWEEP_EVERY == 0:
            for version in sweep_dead_runs(stores):
                log.info("discarded %s, left by a dead trainer", version)
        ticks += 1
        time.sleep(TICK_SECONDS)
