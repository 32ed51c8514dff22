"""Three retrains swap the model while events are ingested and lists are read, all through
real processes (gunicorn, RQ workers, movierec train) on a real Redis: no request fails, each
list names a version that was active at that moment, and afterwards the counters of the
active version are those a full rebuild from the ratings store gives."""
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict

import pytest
import redis

from shared.store.catalogue import Catalogue
from shared.store.keys import Keys
from shared.store.models import ModelStore
from shared.store.ratings import parse_entry
from tests.conftest import free_port, load_and_publish, over_partitions, wait_until_answers
from tests.keys import KEYS_ENV, WRITE_KEY

pytestmark = pytest.mark.integration
PREFIX = "swap"
SWITCH_SECONDS = 1.0  # an API process checks the active pointer at least this often


def start(args, env, log):
    return subprocess.Popen([sys.executable, "-m", "movierec", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


class Load:
    """Threads that post events and read lists over keep-alive connections until stopped."""

    def __init__(self, port, users, movies):
        self.port, self.users, self.movies = port, users, movies
        self.stop = threading.Event()
        self.failures, self.reads, self.posts = [], [], 0

    def _connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def post_events(self, seed):
        rng, conn = random.Random(seed), self._connection()
        while not self.stop.is_set():
            events = [{"type": rng.choice(["rating", "rating", "favourite"]),
                       "user_id": rng.choice(self.users), "movie_id": rng.choice(self.movies),
                       **({"rating": rng.randint(1, 10) / 2})} for _ in range(20)]
            for e in events:
                if e["type"] == "favourite":
                    e.pop("rating")
            conn.request("POST", "/v1/events", json.dumps(events),
                         {"Content-Type": "application/json", "X-API-Key": WRITE_KEY})
            reply = conn.getresponse()
            body = reply.read()
            if reply.status != 202:
                self.failures.append(("POST", reply.status, body[:200]))
            self.posts += 1

    def read_lists(self, seed):
        rng, conn = random.Random(seed), self._connection()
        while not self.stop.is_set():
            user = rng.choice(self.users)
            sent = time.time()
            conn.request("GET", f"/v1/users/{user}/recommendations?n={rng.randint(5, 15)}",
                         headers={"X-API-Key": WRITE_KEY})
            reply = conn.getresponse()
            body = reply.read()
            if reply.status != 200:
                self.failures.append(("GET", reply.status, body[:200]))
            else:
                self.reads.append((sent, time.time(), json.loads(body)["model_version"]))


def watch_active(client, keys, stop, seen):
    """The active pointer's changes as (earliest, latest, version): the pointer moved to
    ``version`` after ``earliest`` (taken before the last read that still saw the old one) and
    before ``latest`` (taken after the read that saw the new one). Bounds taken on both sides
    of a read stay true however late this thread gets the GIL back; a time taken after the
    read alone can lag the change by the tens of milliseconds five load threads hold it."""
    last, before_last = None, None
    while not stop.is_set():
        before = time.time()
        version = client.get(keys.active_version)
        after = time.time()
        if version != last:
            seen.append((before if before_last is None else before_last, after, version.decode()))
            last = version
        before_last = before
        time.sleep(0.002)


def active_between(changes, start, end):
    """The versions that may have been active at some moment of [start, end]."""
    out = set()
    for i, (earliest, _, version) in enumerate(changes):
        latest_end = changes[i + 1][1] if i + 1 < len(changes) else float("inf")
        if earliest <= end and latest_end >= start:
            out.add(version)
    return out


def rebuilt_counters(client, keys, version):
    """Cluster sizes, rating counts, half-star sums and favourite counts from the ratings
    store and the version's assignments, computed here."""
    assignments = {int(u): int(c) for p in range(keys.partitions)
                   for u, c in client.hgetall(keys.assignments(version, p)).items()}
    sizes, counts, sums, favourites = (Counter(), defaultdict(Counter), defaultdict(Counter),
                                       defaultdict(Counter))
    for user, cluster in assignments.items():
        sizes[cluster] += 1
        for movie, value in client.hgetall(keys.user(user)).items():
            half, favourite, _ = parse_entry(value)
            if half:
                counts[cluster][int(movie)] += 1
                sums[cluster][int(movie)] += half
            if favourite:
                favourites[cluster][int(movie)] += 1
    return sizes, counts, sums, favourites


def stored_counters(client, keys, version, clusters):
    def nonzero(pairs):
        return Counter({int(k): int(float(v)) for k, v in pairs if int(float(v))})

    sizes = nonzero(over_partitions(client, keys.cluster_sizes, keys.partitions, version).items())
    counts = {c: nonzero(client.hgetall(keys.cluster_counts(version, c)).items()) for c in clusters}
    sums = {c: nonzero(client.hgetall(keys.cluster_sums(version, c)).items()) for c in clusters}
    favourites = {c: nonzero(client.zrange(keys.cluster_favourites(version, c), 0, -1,
                                           withscores=True)) for c in clusters}
    return sizes, counts, sums, favourites


def test_three_retrains_under_load(redis_url, tiny_data, tiny_bundle, tmp_path):
    client, keys = redis.Redis.from_url(redis_url), Keys(PREFIX)
    store = load_and_publish(client, PREFIX, tiny_data, tiny_bundle).ratings
    models = ModelStore(client, keys)
    users = sorted(store.iter_user_ids()) + list(range(8_000_001, 8_000_031))  # and new users
    movies = list(Catalogue(client, keys).all_movies())
    env = dict(os.environ, **KEYS_ENV, REDIS_URL=redis_url, MOVIEREC_PREFIX=PREFIX,
               MOVIEREC_QUEUE=PREFIX, MOVIEREC_VAR_DIR=str(tmp_path), K_RANGE="3-6",
               MIN_CLUSTER_SIZE="4",
               MOVIEREC_GATE_TOLERANCE="0.9",  # swaps are the point here, not the gate
               MOVIEREC_RATE_LIMIT_PER_KEY="1000000/minute")  # nor the rate limits
    port = free_port()
    log = open(tmp_path / "services.log", "wb")
    services = [start(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
                      env, log)] + [start(["worker"], env, log) for _ in range(2)]
    stop_watch, changes = threading.Event(), []
    load = Load(port, users, movies)
    threads = [threading.Thread(target=watch_active, args=(client, keys, stop_watch, changes))]
    try:
        wait_until_answers(port, "/readyz", tmp_path / "services.log")
        threads[0].start()
        threads += [threading.Thread(target=load.post_events, args=(i,)) for i in range(2)]
        threads += [threading.Thread(target=load.read_lists, args=(10 + i,)) for i in range(3)]
        for thread in threads[1:]:
            thread.start()
        for _ in range(3):
            train = subprocess.run([sys.executable, "-m", "movierec", "train"], env=env,
                                   capture_output=True, text=True, timeout=300)
            assert train.returncode == 0, train.stderr
        time.sleep(SWITCH_SECONDS + 0.5)  # reads after the last swap
    finally:
        load.stop.set()
        for thread in threads[1:]:
            thread.join(timeout=30)
        stop_watch.set()
        for service in services:
            os.killpg(service.pid, signal.SIGTERM)
        for service in services:
            service.wait(timeout=30)
        log.close()

    assert load.failures == []
    assert len({v for _, _, v in changes}) == 4 and load.posts > 20 and len(load.reads) > 100
    stale = [(sent, done, version) for sent, done, version in load.reads
             if version not in active_between(changes, sent - SWITCH_SECONDS, done)]
    assert stale == []
    assert len({v for _, _, v in load.reads}) >= 3  # the reads saw the swaps

    deadline = time.monotonic() + 30
    while (sum(client.llen(keys.inbox(p)) for p in range(keys.partitions))
           and time.monotonic() < deadline):
        worker = subprocess.run([sys.executable, "-m", "movierec", "worker", "--burst"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert worker.returncode == 0, worker.stderr
    active = models.active_version()
    rebuilt = rebuilt_counters(client, keys, active)
    assert sum(rebuilt[0].values()) >= 150
    assert sum(sum(c.values()) for c in rebuilt[1].values()) > 5000
    assert stored_counters(client, keys, active, set(rebuilt[0])) == \
        (rebuilt[0], dict(rebuilt[1]), dict(rebuilt[2]), dict(rebuilt[3]))
