"""Fixtures shared by the whole suite: fakeredis for unit tests, a real redis-server for
integration tests (started here, on a free port, in a temporary folder)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[1]
TEAM_DATA = ROOT.parent / "shared" / "data"
ML_LATEST_SMALL = TEAM_DATA / "ml-latest-small"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ml_latest_small() -> Path:
    if not (ML_LATEST_SMALL / "ratings.csv").exists():
        pytest.skip(f"team data not found at {ML_LATEST_SMALL} (the team folder ../shared "
                    "sits beside the checkout)")
    return ML_LATEST_SMALL


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
