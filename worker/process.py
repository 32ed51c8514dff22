"""The event worker as a process: RQ's loop over the events queue, and beside it a thread that
sweeps the inbox and says the worker is alive."""
from __future__ import annotations

import logging
import threading
import time

from shared import config
from shared.recsys.blas import single_threaded_blas
from shared.store.client import StoreError
from shared.store.operations import HEARTBEAT_SECONDS
from shared.store.rq_workers import new_worker_name, run_worker
from shared.store.stores import Stores
from worker import jobs

log = logging.getLogger(__name__)


class InboxSweeper:
    """While the block runs, a thread enqueues a drain whenever events wait and no drain holds
    the inbox (a drain that died let its claim lapse), every DRAIN_SWEEP_SECONDS, and says the
    worker ``name`` is alive every HEARTBEAT_SECONDS (/readyz asks). Without it, a dead drain's
    events would wait for the next request. It sweeps once before the block, so that what a
    drain that died left is queued before the worker takes its first job."""

    def __init__(self, stores: Stores, name: str):
        self.stores, self.name = stores, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inbox-sweep", daemon=True)

    def __enter__(self) -> InboxSweeper:
        self.stores.operations.beat(self.name)
        jobs.sweep_inbox(self.stores)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * jobs.DRAIN_SWEEP_SECONDS)  # a call Redis never answers
                                                                  # must not hold the exit up

    def _run(self) -> None:
        last_beat, failing = time.monotonic(), False
        while not self._stop.wait(jobs.DRAIN_SWEEP_SECONDS):
            try:
                jobs.sweep_inbox(self.stores)
                if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    self.stores.operations.beat(self.name)
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


def run(settings: config.Settings, burst: bool = False, fork: bool = False,
        name: str | None = None) -> None:
    """Apply queued event batches until asked to stop (SIGTERM, SIGINT: within seconds, the
    running drain handing over between two batches) or, with ``burst``, until the queue is
    empty. ``fork``: each job in a forked work horse (RQ's Worker)."""
    single_threaded_blas()
    name = name or new_worker_name()
    with InboxSweeper(Stores.connect(settings), name):  # on a connection of its own
        run_worker(Stores.connect(settings).events_queue, burst, fork, name)
