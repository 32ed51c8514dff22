"""A master of the cluster is killed while events flow: the API answers 503 with Retry-After,
never 500, until its replica is promoted, then goes on by itself. With
MOVIEREC_WRITE_REPLICAS=1 it goes on once the promoted master has a replica again (the dead
node, restarted, rejoins as one), and no acknowledged event is lost."""
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
RESTART_AFTER = 8.0  # seconds after the kill: the replica took over well before (2 s timeout)


@pytest.fixture
def cluster_with_replicas(tmp_path):
    from movierec.redis_cluster import start_cluster

    handle = start_cluster(tmp_path / "cluster", free_cluster_ports(6), masters=3, replicas=1,
                           password=CLUSTER_PASSWORD)
    yield handle
    handle.stop()


@pytest.mark.parametrize("write_replicas", [0, 1], ids=["primary", "replica-acknowledged"])
def test_a_killed_master_costs_503s_until_its_replica_takes_over(
        cluster_with_replicas, redis_url, tiny_data, tiny_bundle, tmp_path, write_replicas):
    handle = cluster_with_replicas
    settings = Settings(redis_url=handle.url, queue_url=redis_url, key_prefix=PREFIX,
                        queue_name=PREFIX, model_dir=None, write_replicas=write_replicas,
                        write_replica_timeout_ms=200)
    stores = load_and_publish(client_for(settings), PREFIX, tiny_data, tiny_bundle,
                              redis_url=handle.url, queue_url=redis_url)
    api = keyed(create_app(with_keys(settings)).test_client())
    keys = stores.keys

    def master_of(partition):
        return stores.redis.get_node_from_key(keys.inbox(partition)).port

    # the master holding the first user's partition; every event posted is for a user whose
    # partition it holds, so every request needs it
    master = master_of(keys.partition_of(800_001))
    on_master = {p for p in range(keys.partitions) if master_of(p) == master}
    process = handle.processes[handle.ports.index(master)]

    statuses, accepted, killed_at, after_kill, slowest = [], [], None, [], 0.0
    restarted, served_again = False, None
    deadline = time.monotonic() + 60
    user = 800_000
    while time.monotonic() < deadline:
        user += 1
        while keys.partition_of(user) not in on_master:
            user += 1
        started = time.monotonic()
        response = api.post("/v1/events", json={"type": "rating", "user_id": user,
                                                "movie_id": 1, "rating": 4.0})
        statuses.append(response.status_code)
        if response.status_code == 202:
            accepted.append(user)
            if served_again is None and 503 in after_kill:
                served_again = time.monotonic() - killed_at
        else:  # never a 500: a 503 the client is told to retry
            assert response.status_code == 503, response.get_json()
            assert response.headers["Retry-After"] == "1"
            assert response.get_json()["error"] == "unavailable"
        if killed_at is None and len(accepted) >= 50:
            os.kill(process.pid, signal.SIGKILL)
            killed_at = time.monotonic()
        elif killed_at is not None:
            if not restarted and time.monotonic() - killed_at > RESTART_AFTER:
                handle.restart(master)  # as a supervisor would
                restarted = True
            after_kill.append(response.status_code)
            slowest = max(slowest, time.monotonic() - started)
            if restarted and after_kill[-20:] == [202] * 20:
                break  # the replica took over: on by itself
        time.sleep(0.01)
    assert killed_at is not None and after_kill[-20:] == [202] * 20, statuses[-40:]
    assert served_again is not None
    # the promoted replica holds the inbox; a worker applies what it kept
    env = dict(os.environ, REDIS_URL=handle.url, MOVIEREC_QUEUE_URL=redis_url,
               MOVIEREC_PREFIX=PREFIX, MOVIEREC_QUEUE=PREFIX,
               MOVIEREC_MODEL_DIR=str(tmp_path / "models"))
    result = subprocess.run([sys.executable, "-m", "movierec", "worker", "--burst"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert stores.inbox.length() == 0
    lost = [u for u in accepted if not stores.ratings.user_ratings(u)]
    if write_replicas:  # every acknowledged event was on the replica that took over
        assert lost == []
    print(f"failover (write_replicas={write_replicas}): {after_kill.count(503)} answers 503, "
          f"the slowest request {slowest:.2f} s, served again {served_again:.1f} s after the "
          f"kill; {len(accepted)} events acknowledged, {len(lost)} lost")
