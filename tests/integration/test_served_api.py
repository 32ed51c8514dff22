"""`movierec serve` as deployed: gunicorn with each worker class, a real Redis, real workers.

Concurrent single-event POSTs exercise the group commit (several requests of one gevent
process share a script call); every event must still be applied exactly once."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from shared.config import API_WORKER_CLASSES
from tests.conftest import load_and_publish
from tests.keys import KEYS_ENV, WRITE_KEY

pytestmark = pytest.mark.integration
PREFIX = "served"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"X-API-Key": WRITE_KEY}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture(params=API_WORKER_CLASSES)
def served(request, redis_url, tiny_data, tiny_bundle, tmp_path):
    client = redis.Redis.from_url(redis_url)
    store = load_and_publish(client, PREFIX, tiny_data, tiny_bundle)
    port = free_port()
    env = dict(os.environ, **KEYS_ENV, REDIS_URL=redis_url, MOVIEREC_PREFIX=PREFIX)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "movierec", "serve", "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", "2",
                                 "--worker-class", request.param],
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                # ready but for the workers, which the tests start themselves (or not)
                status, body = call(port, "GET", "/readyz")
                checks = json.loads(body)["checks"]
                if checks.get("model") == tiny_bundle.version and "workers" in checks:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "movierec serve did not become ready"
            time.sleep(0.1)
        yield port, store, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_concurrent_single_event_posts_are_each_applied_once(served):
    port, store, env = served
    events = [{"type": "rating", "user_id": 9_000_000 + i % 20, "movie_id": movie,
               "rating": 0.5 + (i % 10) / 2, "event_id": f"served-{i}"}
              for i, movie in enumerate(int(m) for m in store.redis.hkeys(store.keys.movies)[:200])]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda e: call(port, "POST", "/v1/events", e), events))
    assert all(status == 202 and json.loads(body) == {"accepted": 1}
               for status, body in statuses), statuses[:3]
    assert store.inbox_length() == len(events)
    result = subprocess.run([sys.executable, "-m", "movierec", "worker", "--burst"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert store.inbox_length() == 0
    applied = {}
    for user in range(9_000_000, 9_000_020):
        applied.update({(user, m): r for m, (r, *_) in store.user_ratings(user).items()})
    assert applied == {(e["user_id"], e["movie_id"]): e["rating"] for e in events}


def test_a_cached_recommendation_is_served_as_computed(served):
    port, store, _ = served
    user = next(iter(store.iter_user_ids()))
    first = call(port, "GET", f"/v1/users/{user}/recommendations?n=5")
    assert store.redis.exists(store.keys.recommendations_cache(user))
    again = call(port, "GET", f"/v1/users/{user}/recommendations?n=5")
    assert first[0] == again[0] == 200
    assert json.loads(first[1]) == json.loads(again[1])
    assert len(json.loads(first[1])["items"]) == 5


def test_a_rollback_reaches_every_api_process_within_a_second(served, tiny_bundle):
    import dataclasses

    from shared.store.models import ModelStore
    from trainer.publish import publish

    port, store, env = served
    models = ModelStore(store.redis, store.keys)
    users = sorted(store.iter_user_ids())[:40]

    def versions_served() -> set[str]:
        return {json.loads(call(port, "GET", f"/v1/users/{u}/recommendations?n=3")[1])
                ["model_version"] for u in users}

    publish(dataclasses.replace(tiny_bundle, version="v-newer"), store, models, shrink=5.0,
            progress=False)
    time.sleep(1.1)
    assert versions_served() == {"v-newer"}
    rollback = subprocess.run([sys.executable, "-m", "movierec", "models", "activate",
                               tiny_bundle.version], env=env, capture_output=True, text=True,
                              timeout=120)
    assert rollback.returncode == 0, rollback.stderr
    time.sleep(1.05)  # each process checks the active pointer at least once a second
    assert versions_served() == {tiny_bundle.version}
