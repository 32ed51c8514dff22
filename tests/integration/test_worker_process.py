"""A real `movierec worker` process applies JSON jobs from the queue to a real Redis."""
import json
import os
import signal
import subprocess
import sys
import time
import zlib

import pytest
import redis

from shared.config import Settings
from shared.data.events import Event
from shared.store.counters import CounterStore
from shared.store.inbox import Inbox
from shared.store.keys import Keys
from shared.store.queue import DRAIN_EVENTS_JOB, enqueue_drain, events_queue
from shared.store.ratings import RatingStore

pytestmark = pytest.mark.integration


def run_worker(redis_url, prefix, *extra):
    env = dict(os.environ, REDIS_URL=redis_url, MOVIEREC_PREFIX=prefix)
    return subprocess.run([sys.executable, "-m", "movierec", "worker", "--burst", *extra],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mode", [[], ["--fork"]], ids=["simple", "fork"])
def test_worker_drains_the_inbox_once_even_when_jobs_and_events_come_twice(redis_url, mode):
    client = redis.Redis.from_url(redis_url)
    settings = Settings(redis_url=redis_url, key_prefix="w")
    queue = events_queue(client, settings)
    store, inbox = RatingStore(client, Keys("w")), Inbox(client, Keys("w"))
    batch = [Event("rating", 7, 42, 9, 100.0, "a"), Event("favourite", 8, 42, 0, 101.0, "b")]
    assert inbox.push(batch) == [0]             # its one lane needs a drain
    first = enqueue_drain(queue)
    assert inbox.push(batch) == []              # the same events delivered again
    second = enqueue_drain(queue)               # and a drain job delivered twice
    result = run_worker(redis_url, "w", *mode)
    assert result.returncode == 0, result.stderr
    first.refresh()
    second.refresh()
    assert first.get_status() == "finished"
    done = {k: v for k, v in first.return_value().items() if k != "batches"}
    assert done == {"applied": 2, "skipped": 2, "users_classified": 0, "users_assigned": 0,
                    "dead_lettered": 0}
    again = {k: v for k, v in second.return_value().items() if k != "batches"}
    assert again == {"applied": 0, "skipped": 0, "users_classified": 0, "users_assigned": 0,
                     "dead_lettered": 0}
    assert store.user_ratings(7) == {42: (4.5, True, 100.0)}
    assert CounterStore(client, Keys("w")).movie_stats(42).n_favourites == 2
    assert inbox.length() == 0 and not client.exists(Keys("w").inbox_draining(0))
    # the job went through Redis as (zlib-compressed) JSON, not pickle
    payload = json.loads(zlib.decompress(client.hget(f"rq:job:{first.id}", "data")))
    assert payload[0] == DRAIN_EVENTS_JOB


def test_a_starting_worker_resumes_an_inbox_left_by_a_dead_drain(redis_url):
    client = redis.Redis.from_url(redis_url)
    store, inbox = RatingStore(client, Keys("w")), Inbox(client, Keys("w"))
    inbox.push([Event("rating", 7, 42, 9, 100.0, "")])
    client.delete(Keys("w").inbox_draining(0))  # the claim of a drain that died has expired
    result = run_worker(redis_url, "w")
    assert result.returncode == 0, result.stderr
    assert inbox.length() == 0 and store.user_ratings(7)


def test_worker_without_redis_fails_with_a_message():
    result = run_worker("redis://127.0.0.1:1/0", "w")
    assert result.returncode != 0
    assert "cannot reach Redis at REDIS_URL=redis://127.0.0.1:1/0" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_idle_worker_keeps_waiting_on_its_queue_and_then_applies_what_comes(redis_url,
                                                                              tmp_path):
    """redis-py's default socket timeout (5 s) must not end RQ's wait on the queue (up to
    405 s): it did, and an idle worker's loop started again every 5 s with an error line."""
    client = redis.Redis.from_url(redis_url)
    env = dict(os.environ, REDIS_URL=redis_url, MOVIEREC_PREFIX="idle")
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "movierec", "worker"], env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(7)  # longer than the default socket timeout, idle
        store, inbox = RatingStore(client, Keys("idle")), Inbox(client, Keys("idle"))
        assert inbox.push([Event("rating", 7, 42, 9, 100.0, "")]) == [0]
        enqueue_drain(events_queue(client, Settings(redis_url=redis_url, key_prefix="idle")))
        deadline = time.monotonic() + 10
        while not store.user_ratings(7) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.user_ratings(7) == {42: (4.5, True, 100.0)}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert "Redis connection timeout" not in text and "loop ended" not in text, text[-2000:]
