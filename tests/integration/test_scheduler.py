"""Two `movierec scheduler` processes for three intervals start three retrains, and
`movierec worker --retrains` runs them (real Redis, real processes, JSON jobs)."""
import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from rq.job import Job

from shared.config import Settings
from shared.store.models import ModelStore
from shared.store.queue import retrain_queue
from tests.conftest import load_and_publish

pytestmark = pytest.mark.integration
PREFIX, INTERVAL = "sched", 2.0


def test_two_schedulers_start_one_retrain_per_interval(redis_url, tiny_data, tiny_bundle, tmp_path):
    client = redis.Redis.from_url(redis_url)
    store = load_and_publish(client, PREFIX, tiny_data, tiny_bundle).ratings
    queue = retrain_queue(client, Settings(key_prefix=PREFIX, queue_name=PREFIX))
    env = dict(os.environ, REDIS_URL=redis_url, MOVIEREC_PREFIX=PREFIX, MOVIEREC_QUEUE=PREFIX,
               MOVIEREC_RETRAIN_EVERY=str(INTERVAL), MOVIEREC_RETRAIN_AFTER_EVENTS="0",
               MOVIEREC_VAR_DIR=str(tmp_path), MOVIEREC_KEEP_VERSIONS="2")
    schedulers = [subprocess.Popen([sys.executable, "-m", "movierec", "scheduler"], env=env,
                                   stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        # three boundaries after both started; how late each scheduler's tick comes after a
        # boundary depends on the machine's load, so the test waits for the retrains, not a time
        deadline = time.monotonic() + 30
        while queue.count < 3:
            assert time.monotonic() < deadline, f"{queue.count} retrains enqueued in 30 s"
            assert all(s.poll() is None for s in schedulers), schedulers[0].stderr.read()
            time.sleep(0.01)
    finally:
        for s in schedulers:
            s.send_signal(signal.SIGTERM)
        logs = [s.communicate(timeout=10)[1] for s in schedulers]
    assert all(s.returncode == 0 for s in schedulers), logs
    jobs = [Job.fetch(job_id, connection=client, serializer=queue.serializer)
            for job_id in queue.job_ids]
    slots = [job.kwargs["reason"] for job in jobs]
    # one retrain per interval, whichever of the two schedulers claimed it (a fourth may have
    # come due before both stopped)
    assert len(slots) == len(set(slots)) >= 3, (slots, logs)
    numbers = sorted(int(slot.split(":")[-1]) for slot in slots)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # consecutive

    worker = subprocess.run([sys.executable, "-m", "movierec", "worker", "--retrains", "--burst"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert worker.returncode == 0, worker.stderr
    for job in jobs:
        job.refresh()
        assert job.get_status() == "finished", job.exc_info
        assert job.meta["stage"] == "done" and job.return_value()["reason"] in slots
    models = ModelStore(client, store.keys)
    assert models.active_version() == jobs[-1].return_value()["version"]
    assert len(models.versions()) == 2 and models.snapshot_events() == store.events_applied()
