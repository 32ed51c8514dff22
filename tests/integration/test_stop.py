"""SIGTERM stops every long-running movierec process within STOP_SECONDS, under load and idle,
as supervisors (systemd, Kubernetes, honcho) expect before they send SIGKILL; and a drain cut
short by a stop loses and doubles nothing. Real processes on a real Redis."""
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import redis

from shared.store.catalogue import Catalogue
from shared.store.keys import Keys
from shared.store.models import ModelStore
from shared.store.operations import Operations
from shared.store.ratings import RatingStore, parse_entry
from shared.store.trainer_lock import TrainerLock
from tests.conftest import free_port, load_and_publish, over_partitions, wait_until_answers
from tests.keys import ADMIN_KEY, KEYS_ENV, WRITE_KEY

pytestmark = pytest.mark.integration
PREFIX = "stop"
STOP_SECONDS = 10
ROUNDS = 4
FIRST_NEW_USER = 9_000_000


class Events:
    """Threads posting rating events over keep-alive connections until stopped; each event
    rates a (user, movie) pair no event rated before, so each one must change the store once."""

    def __init__(self, port, movies):
        self.port, self.movies = port, movies
        self.stop = threading.Event()
        self.accepted: list[dict] = []
        self.failures: list = []
        self._threads = []

    def __enter__(self):
        self._threads = [threading.Thread(target=self._post, args=(i,)) for i in range(2)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _post(self, poster):
        """Until stopped, or until the API closes the connection (it is being stopped)."""
        rng, conn = random.Random(poster), http.client.HTTPConnection("127.0.0.1", self.port,
                                                                     timeout=30)
        user = FIRST_NEW_USER + poster * 1_000_000
        while not self.stop.is_set():
            user += 1
            events = [{"type": "rating", "user_id": user, "movie_id": movie,
                       "rating": rng.randint(1, 10) / 2}
                      for movie in rng.sample(self.movies, 20)]
            try:
                conn.request("POST", "/v1/events", json.dumps(events),
                             {"Content-Type": "application/json", "X-API-Key": WRITE_KEY})
                reply = conn.getresponse()
                body = reply.read()
            except (OSError, http.client.HTTPException):
                return
            if reply.status == 202:
                self.accepted.extend(events)
            else:
                self.failures.append((reply.status, body[:200]))
            time.sleep(0.005)  # a load, not a flood: some thousands of events a second


def start(args, env, log):
    return subprocess.Popen([sys.executable, "-m", "movierec", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop_within(process, seconds=STOP_SECONDS) -> float:
    """SIGTERM to ``process`` alone (as a supervisor sends it); how long it took to exit, which
    must be under ``seconds``, with exit status 0."""
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # its threads' stacks go to the log (faulthandler)
        process.wait()
        raise AssertionError(f"{process.args[3:]} still ran {seconds} s after SIGTERM "
                             "(its stacks are in services.log)") from None
    assert code == 0, f"{process.args[3:]} exited with {code}"
    return time.monotonic() - sent


def wait_alive(client, keys, names, deadline=60):
    """Until the workers ``names`` have said they are alive: they work from then on."""
    operations, until = Operations(client, keys), time.monotonic() + deadline
    while not set(names) <= set(operations.live_workers()):
        assert time.monotonic() < until, f"workers {names} never said they were alive"
        time.sleep(0.05)


@pytest.fixture
def stack(redis_url, tiny_data, tiny_bundle, tmp_path):
    """The tiny data set with an active model, and an API serving it: (client, keys, env,
    port, log)."""
    client, keys = redis.Redis.from_url(redis_url), Keys(PREFIX)
    load_and_publish(client, PREFIX, tiny_data, tiny_bundle)
    env = dict(os.environ, **KEYS_ENV, REDIS_URL=redis_url, MOVIEREC_PREFIX=PREFIX,
               MOVIEREC_QUEUE=PREFIX, MOVIEREC_VAR_DIR=str(tmp_path), K_RANGE="3-6",
               MIN_CLUSTER_SIZE="4", MOVIEREC_RATE_LIMIT_PER_KEY="1000000/minute",
               PYTHONFAULTHANDLER="1")
    port = free_port()
    log_path = tmp_path / "services.log"
    with open(log_path, "wb") as log:
        api = start(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
                    env, log)
        try:
            wait_until_answers(port, "/healthz", log_path)
            yield client, keys, env, port, log
        finally:
            if api.poll() is None:
                os.killpg(api.pid, signal.SIGKILL)
                api.wait()


def popularity(client, keys):
    """Rating counts and half-star sums per movie: as stored, and as the ratings store says."""
    def nonzero(mapping):
        return Counter({int(k): int(float(v)) for k, v in mapping.items() if int(float(v))})

    stored = (nonzero(over_partitions(client, keys.movie_counts, keys.partitions)),
              nonzero(over_partitions(client, keys.movie_sums, keys.partitions)))
    counts, sums = Counter(), Counter()
    users = set().union(*(client.smembers(keys.users(p)) for p in range(keys.partitions)))
    for user in users:
        for movie, value in client.hgetall(keys.user(int(user))).items():
            half = parse_entry(value)[0]
            if half:
                counts[int(movie)] += 1
                sums[int(movie)] += half
    return stored, (counts, sums)


def test_event_workers_stop_in_time_under_load_and_lose_nothing(stack):
    client, keys, env, port, log = stack
    movies = list(Catalogue(client, keys).all_movies())
    applied_before = RatingStore(client, keys).events_applied()
    rng = random.Random(0)
    took = []
    with Events(port, movies) as load:
        for round_ in range(ROUNDS):
            names = [f"w{round_}-{i}" for i in range(2)]
            workers = [start(["worker", "--name", name], env, log) for name in names]
            wait_alive(client, keys, names)
            time.sleep(rng.uniform(0.5, 2.5))  # draining under load
            took += [stop_within(worker) for worker in workers]
        idle = start(["worker", "--name", "idle"], env, log)
        wait_alive(client, keys, ["idle"])
    assert load.failures == [] and len(load.accepted) > 2000

    time.sleep(1.0)  # idle: the load is over and the inbox drained
    took.append(stop_within(idle))
    burst = subprocess.run([sys.executable, "-m", "movierec", "worker", "--burst"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert burst.returncode == 0, burst.stderr
    for p in range(keys.partitions):
        assert client.llen(keys.inbox(p)) == 0 and client.llen(keys.dead_letters(p)) == 0

    # lost nothing: every accepted event is in the store; doubled nothing: each was applied
    # once, and the counters moved once for each
    with client.pipeline(transaction=False) as pipe:
        for e in load.accepted:
            pipe.hget(keys.user(e["user_id"]), e["movie_id"])
        stored = [value and parse_entry(value)[0] for value in pipe.execute()]
    assert stored == [int(e["rating"] * 2) for e in load.accepted]
    assert RatingStore(client, keys).events_applied() - applied_before == len(load.accepted)
    stored_popularity, rebuilt = popularity(client, keys)
    assert stored_popularity == rebuilt
    assert max(took) < STOP_SECONDS


def test_a_retrain_worker_stops_mid_retrain_and_leaves_no_lock(stack):
    client, keys, env, port, log = stack
    models = ModelStore(client, keys)
    active = models.active_version()
    retrains = start(["worker", "--retrains"], env, log)
    with Events(port, list(Catalogue(client, keys).all_movies())):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/v1/admin/retrain", headers={"X-API-Key": ADMIN_KEY})
        assert conn.getresponse().status == 202
        deadline = time.monotonic() + 60
        while TrainerLock(client, keys).holder() is None:  # the retrain is under way
            assert time.monotonic() < deadline and retrains.poll() is None
            time.sleep(0.05)
        stop_within(retrains)
    assert TrainerLock(client, keys).holder() is None  # released on the way out
    assert models.active_version() == active


def test_the_api_and_the_scheduler_stop_in_time(stack, tmp_path):
    client, keys, env, port, log = stack
    scheduler = start(["scheduler"], env, log)
    api_port = free_port()
    api = start(["serve", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "2"],
                env, log)
    wait_until_answers(api_port, "/healthz", tmp_path / "services.log")
    idle = http.client.HTTPConnection("127.0.0.1", api_port, timeout=30)
    idle.request("GET", "/healthz")  # a keep-alive connection left open, as proxies keep them
    assert idle.getresponse().read()
    with Events(api_port, list(Catalogue(client, keys).all_movies())) as load:
        time.sleep(1.0)
        stop_within(api)
    assert load.failures == []  # a stopping API finishes the requests it took
    stop_within(scheduler)
