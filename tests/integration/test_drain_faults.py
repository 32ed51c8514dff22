"""Draining never stalls (real Redis, real `movierec worker` processes): a worker SIGKILLed in
the middle of a drain, and a poison item, set aside while the rest flows on."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from rq import Worker

from shared.data.events import Event
from shared.store.queue import enqueue_drain
from tests.conftest import stores_on

pytestmark = pytest.mark.integration


def start_workers(redis_url, prefix, count, tmp_path, env=None):
    env = env or dict(os.environ, REDIS_URL=redis_url, MOVIEREC_PREFIX=prefix,
                      MOVIEREC_QUEUE=prefix)
    log = open(tmp_path / f"{prefix}-workers.log", "wb")
    workers = [subprocess.Popen([sys.executable, "-m", "movierec", "worker",
                                 "--name", f"{prefix}-{i}"], env=env, stdout=log,
                                stderr=subprocess.STDOUT) for i in range(count)]
    return workers, env


def stop(workers):
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait(timeout=30)


def push(stores, events, chunk=1000):
    for start in range(0, len(events), chunk):
        for lane in stores.inbox.push(events[start:start + chunk]):
            enqueue_drain(stores.events_queue, lane)


def test_a_drain_killed_mid_way_is_taken_over_within_two_seconds(redis_url, tmp_path):
    prefix = "killdrain"
    client = redis.Redis.from_url(redis_url)
    stores = stores_on(client, prefix)
    store, inbox, queue = stores.ratings, stores.inbox, stores.events_queue
    events = [Event("rating", 1 + i % 20_000, 1 + i // 20_000, 1 + i % 10, 1000.0 + i)
              for i in range(300_000)]
    backlog: dict[int, list[str]] = {}  # the items after the first 1,000, by partition
    for e in events[1000:]:
        backlog.setdefault(stores.keys.partition_of(e.user_id), []).append(
            json.dumps(e.wire(), separators=(",", ":")))
    workers, _ = start_workers(redis_url, prefix, 2, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while len(Worker.all(queue=queue)) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        push(stores, events[:1000])
        for partition, items in backlog.items():  # faster than the API could: a backlog
            for start in range(0, len(items), 20_000):
                client.rpush(stores.keys.inbox(partition), *items[start:start + 20_000])
        while inbox.length() > len(events) - 40_000:  # well into the drain
            assert time.monotonic() < deadline, "no drain started"
            time.sleep(0.005)
        # the one drain of the one lane (a drain handing over to its next job overlaps it
        # for a moment; two drains at once for longer would be a bug)
        overlap_deadline = time.monotonic() + 1
        while len(busy := [w for w in Worker.all(queue=queue) if w.get_current_job_id()]) != 1:
            assert time.monotonic() < overlap_deadline, f"{len(busy)} drains at once"
            time.sleep(0.005)
        [draining] = busy
        victim = next(p for p in workers if p.pid == draining.pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        time.sleep(0.3)  # the script call it had sent runs to its end in Redis
        left = inbox.length()
        assert left > 10_000, "the drain finished before the kill: push more events"
        while inbox.length() >= left:
            assert time.monotonic() - killed_at < 5, "nobody took the drain over"
            time.sleep(0.005)
        taken_over = time.monotonic() - killed_at
        while inbox.length():
            assert time.monotonic() - killed_at < 60
            time.sleep(0.05)
        assert taken_over <= 2.0, f"the events waited {taken_over:.2f} s"
        deadline = time.monotonic() + 10
        while store.events_applied() < len(events) and time.monotonic() < deadline:
            time.sleep(0.05)  # the last batch's script has run; its job may still be finishing
        assert store.events_applied() == len(events)
    finally:
        stop(workers)


def test_a_poison_item_is_set_aside_and_replayed_once_its_cause_is_fixed(redis_url, tmp_path):
    prefix = "poison"
    client = redis.Redis.from_url(redis_url)
    stores = stores_on(client, prefix)
    keys, store, inbox = stores.keys, stores.ratings, stores.inbox
    # a key of the wrong type: every event of user 500 fails
    client.set(keys.user(500), "not a hash")
    workers, env = start_workers(redis_url, prefix, 2, tmp_path)
    try:
        push(stores, [Event("rating", u, 7, 9, 100.0) for u in range(490, 511)])
        deadline = time.monotonic() + 20
        while inbox.length() or not inbox.dead_letters():
            assert time.monotonic() < deadline, "the inbox did not flow on"
            time.sleep(0.05)
        assert all(store.user_ratings(u) for u in range(490, 511) if u != 500)
        listed = subprocess.run([sys.executable, "-m", "movierec", "events", "dead-letter", "list"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and "WRONGTYPE" in listed.stdout and '"500"' in listed.stdout
        [letter] = inbox.dead_letters()

        client.delete(keys.user(500))  # fixed
        replayed = subprocess.run([sys.executable, "-m", "movierec", "events", "dead-letter",
                                   "replay", letter["id"]], env=env, capture_output=True,
                                  text=True, timeout=60)
        assert replayed.returncode == 0 and "1 item(s) back in the inbox" in replayed.stdout
        deadline = time.monotonic() + 10
        while not store.user_ratings(500):
            assert time.monotonic() < deadline, "the replayed item was not applied"
            time.sleep(0.05)
        assert inbox.dead_letters() == [] and store.user_ratings(500) == {7: (4.5, True, 100.0)}
    finally:
        stop(workers)
