"""A master of the cluster is killed while events flow: the API answers 503 with Retry-After,
never 500, until its replica is promoted, then goes on by itself."""
import os
import signal
import subprocess
import sys
import time

import pytest

from api import create_app
from shared.config import Settings
from shared.store.client import client_for
from tests.conftest import CLUSTER_PASSWORD, free_cluster_ports, load_and_publish
from tests.keys import keyed, with_keys

pytestmark = pytest.mark.integration
PREFIX = "fail"


@pytest.fixture
def cluster_with_replicas(tmp_path):
    from movierec.redis_cluster import start_cluster

    handle = start_cluster(tmp_path / "cluster", free_cluster_ports(6), masters=3, replicas=1,
                           password=CLUSTER_PASSWORD)
    yield handle
    handle.stop()


def test_a_killed_master_costs_503s_until_its_replica_takes_over(
        cluster_with_replicas, redis_url, tiny_data, tiny_bundle, tmp_path):
    handle = cluster_with_replicas
    settings = Settings(redis_url=handle.url, queue_url=redis_url, key_prefix=PREFIX,
                        queue_name=PREFIX, model_dir=None)
    stores = load_and_publish(client_for(settings), PREFIX, tiny_data, tiny_bundle,
                              redis_url=handle.url, queue_url=redis_url)
    api = keyed(create_app(with_keys(settings)).test_client())
    master = stores.redis.get_node_from_key(stores.keys.inbox).port
    process = handle.processes[handle.ports.index(master)]

    statuses, accepted, killed_at, after_kill, slowest = [], 0, None, [], 0.0
    deadline = time.monotonic() + 60
    user = 800_000
    while time.monotonic() < deadline:
        user += 1
        started = time.monotonic()
        response = api.post("/v1/events", json={"type": "rating", "user_id": user,
                                                "movie_id": 1, "rating": 4.0})
        statuses.append(response.status_code)
        if response.status_code == 202:
            accepted += 1
        else:  # never a 500: a 503 the client is told to retry
            assert response.status_code == 503, response.get_json()
            assert response.headers["Retry-After"] == "1"
            assert response.get_json()["error"] == "unavailable"
        if killed_at is None and accepted >= 50:
            os.kill(process.pid, signal.SIGKILL)
            killed_at = time.monotonic()
        elif killed_at is not None:
            after_kill.append(response.status_code)
            slowest = max(slowest, time.monotonic() - started)
            if after_kill[-20:] == [202] * 20:
                break  # the replica took over: on by itself
        time.sleep(0.01)
    assert killed_at is not None and after_kill[-20:] == [202] * 20, statuses[-40:]
    recovered = time.monotonic() - killed_at
    # the promoted replica holds the inbox; a worker applies what it kept
    env = dict(os.environ, REDIS_URL=handle.url, MOVIEREC_QUEUE_URL=redis_url,
               MOVIEREC_PREFIX=PREFIX, MOVIEREC_QUEUE=PREFIX,
               MOVIEREC_MODEL_DIR=str(tmp_path / "models"))
    result = subprocess.run([sys.executable, "-m", "movierec", "worker", "--burst"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    applied = sum(1 for u in range(800_001, user + 1) if stores.ratings.user_ratings(u))
    assert applied <= accepted and stores.inbox.length() == 0
    print(f"failover: {after_kill.count(503)} answers 503, the slowest request {slowest:.1f} s, "
          f"served again within {recovered:.1f} s; {accepted} events acknowledged, {applied} "
          f"applied, {accepted - applied} lost")
