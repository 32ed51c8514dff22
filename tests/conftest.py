"""Fixtures shared by the whole suite: fakeredis for unit tests, a real redis-server for
integration tests (started here, on a free port, in a temporary folder)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import redis

# The team folder ../shared sits beside the checkout.
_ML_LATEST_SMALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answers(port: int, path: str, log: Path, timeout: float = 60) -> None:
    """Until ``GET path`` on 127.0.0.1:``port`` answers 200; fails with the ``log`` of the
    processes behind it when that takes longer than ``timeout`` seconds."""
    import http.client
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)


def stored_keys(client) -> set[bytes]:
    """The Redis keys holding data: all but the rate limiter's counters, which every request,
    refused or not, moves."""
    return {key for key in client.keys() if b":ratelimit:" not in key}


def over_partitions(client, key_of, partitions: int, *args) -> dict:
    """The partitions' hashes (or sorted sets: member -> score) ``key_of(*args, p)`` as one:
    what a test compares with counters it computes over all movies or clusters."""
    merged = {}
    for partition in range(partitions):
        key = key_of(*args, partition)
        if client.type(key) == b"zset":
            merged.update(client.zrange(key, 0, -1, withscores=True))
        else:
            merged.update(client.hgetall(key))
    return merged


@pytest.fixture
def ml_latest_small() -> Path:
    """The real ml-latest-small folder of the team data; the test is skipped without it."""
    if not (_ML_LATEST_SMALL / "ratings.csv").exists():
        pytest.skip(f"team data not found at {_ML_LATEST_SMALL} (the team folder ../shared "
                    "sits beside the checkout)")
    return _ML_LATEST_SMALL


@pytest.fixture
def fake_redis():
    import fakeredis

    return fakeredis.FakeRedis()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """URL of a real redis-server private to this test session."""
    from movierec.redis_server import find_redis_server, start_private

    if find_redis_server() is None:
        url = os.environ.get("MOVIEREC_TEST_REDIS_URL")
        if url:
            yield url
            return
        pytest.skip("redis-server is not installed: run the suite with `make test`, which "
                    "installs it, or set MOVIEREC_TEST_REDIS_URL to a Redis the tests may flush")
    handle = start_private(tmp_path_factory.mktemp("redis-var"), port=free_port())
    yield handle.url
    handle.stop()


def free_cluster_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports whose cluster bus ports (+10000) are
    free too."""
    import random

    for _ in range(200):
        first = random.randrange(20000, 30000 - count)
        ports = [p for port in range(first, first + count) for p in (port, port + 10000)]
        try:
            sockets = []
            for port in ports:
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free ports for a local Redis Cluster")


CLUSTER_PASSWORD = "cluster-test-password"


@pytest.fixture(scope="session")
def redis_cluster_server(tmp_path_factory, redis_server):
    """URL (redis+cluster://) of a three-master Redis Cluster private to this test session,
    with a password, as `movierec up --cluster 3` starts one."""
    from movierec.redis_cluster import start_cluster

    handle = start_cluster(tmp_path_factory.mktemp("redis-cluster"),
                           free_cluster_ports(3), masters=3, password=CLUSTER_PASSWORD)
    yield handle
    handle.stop()


@pytest.fixture
def redis_cluster(redis_cluster_server, redis_url):
    """(cluster URL, a plain Redis URL for the queues), every node flushed."""
    for port in redis_cluster_server.ports:
        redis_cluster_server.node_client(port, CLUSTER_PASSWORD).flushall()
    return redis_cluster_server.url, redis_url


@pytest.fixture
def redis_url(redis_server) -> str:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server


@pytest.fixture
def real_redis(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small generated MovieLens-shaped folder: 150 users, 400 movies, 6,000 ratings."""
    from shared.data.synthetic import generate

    out = tmp_path_factory.mktemp("tiny-data")
    generate(out, 150, 400, 6000, seed=1)
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tiny_data):
    """The training pipeline fitted once on ``tiny_data`` (ratings as a store snapshot)."""
    from shared.data import movielens
    from trainer.pipeline import TrainerBundleConfig, fit_pipeline

    data = movielens.load(tiny_data)
    snapshot = data.ratings.assign(favourite=data.ratings["rating"] >= 4)
    return fit_pipeline(snapshot, data.movies,
                        TrainerBundleConfig(k_range=(3, 6), min_cluster_size=4), progress=False)


def stores_on(client, prefix: str = "movierec", **settings):
    """The stores on ``client`` under ``prefix`` (the queues' name too), configured as
    ``settings`` say; model versions are kept in Redis only, not written to a folder, and a
    rollback rebuilds at once (no head start) unless told."""
    from shared.config import Settings
    from shared.store.stores import Stores

    settings = {"rebuild_head_start": 0.0, **settings}
    return Stores(client, Settings(key_prefix=prefix, queue_name=prefix, model_dir=None,
                                   **settings))


def load_and_publish(client, prefix, data_dir, bundle, **settings):
    """Import ``data_dir`` into Redis and publish ``bundle`` as the active version; the
    stores (configured as ``settings`` say)."""
    from shared.store.importer import import_folder
    from trainer.publish import publish

    stores = stores_on(client, prefix, **settings)
    import_folder(data_dir, stores.ratings, stores.catalogue, progress=False)
    publish(bundle, stores, shrink=5.0, progress=False)
    return stores
