"""``movierec migrate`` on a store written by the release before the partitioned layout
(tests/fixtures/layout-one.rdb, made by tests/fixtures/make_layout_one.py): nothing of it is
lost, the services refuse it until it is moved, and a move stopped half-way goes on."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from shared.config import Settings
from shared.data.events import Event
from shared.store.keys import LayoutOneKeys
from shared.store.layout import LayoutError
from shared.store.stores import Stores
from tests.conftest import free_port

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "layout-one.rdb"
OLD = LayoutOneKeys("movierec")
SETTINGS = Settings(key_prefix="movierec", queue_name="movierec", model_dir=None)


@pytest.fixture
def layout_one(tmp_path):
    """A redis-server holding the fixture store: its URL."""
    from movierec.redis_server import find_redis_server

    shutil.copy(FIXTURE, tmp_path / "dump.rdb")
    port = free_port()
    server = subprocess.Popen(
        [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
         "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.dbsize():
                break
        except redis.ConnectionError:
            pass
        assert time.monotonic() < deadline, "redis-server did not load the fixture"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)


def old_state(client) -> dict:
    """What the first layout holds, read by its own key names."""
    users = sorted(int(u) for u in client.smembers(OLD.users))
    active = client.get("{movierec}:model:active").decode()
    return {
        "users": users,
        "ratings": {u: client.hgetall(OLD.user(u)) for u in users},
        "logs": {u: client.lrange(OLD.user_log(u), 0, -1) for u in users},
        "counts": client.hgetall(OLD.user_counts),
        "deleted": client.hgetall(OLD.deleted_users),
        "active": active,
        "clusters": client.hgetall(OLD.assignments(active)),
        "movie_counts": client.hgetall("{movierec}:stats:n"),
        "popular": client.zrange("{movierec}:popular", 0, -1, withscores=True),
        "applied": client.get("{movierec}:stats:applied"),
        "inbox": client.lrange(OLD.inbox, 0, -1),
        "dead_letters": client.lrange(OLD.dead_letters, 0, -1),
    }


def assert_carried_over(client, before: dict) -> Stores:
    stores = Stores(client, SETTINGS)
    keys = stores.keys
    assert sorted(stores.ratings.iter_user_ids()) == before["users"]
    for user in before["users"]:
        assert client.hgetall(keys.user(user)) == before["ratings"][user]
        assert client.lrange(keys.user_log(user), 0, -1) == before["logs"][user]
        assert stores.counters.cluster_of(before["active"], user) == (
            int(before["clusters"][str(user).encode()])
            if str(user).encode() in before["clusters"] else None)
    split = {}
    for partition in range(keys.partitions):
        split.update(client.hgetall(keys.user_counts(partition)))
    assert split == before["counts"]
    deleted = {}
    for partition in range(keys.partitions):
        deleted.update(client.hgetall(keys.deleted_users(partition)))
    assert deleted == before["deleted"] and b"4" in deleted
    assert stores.models.active_version() == before["active"]
    assert stores.models.load(before["active"]).version == before["active"]
    assert client.hgetall(keys.movie_counts) == before["movie_counts"]
    assert client.zrange(keys.popular, 0, -1, withscores=True) == before["popular"]
    assert client.get(keys.events_applied) == before["applied"]
    assert sorted(item for p in range(keys.partitions)
                  for item in client.lrange(keys.inbox(p), 0, -1)) == sorted(before["inbox"])
    assert [letter["id"] for letter in stores.inbox.dead_letters()] == ["0123456789ab"]
    assert not client.exists(OLD.users, OLD.inbox, OLD.dead_letters, OLD.user_counts)
    assert not [k for k in client.scan_iter(match="{movierec}:u:*")]
    return stores


def test_a_store_of_the_first_layout_is_refused_then_moved_whole(layout_one):
    client = redis.Redis.from_url(layout_one)
    before = old_state(client)
    assert before["users"] and before["inbox"] and before["dead_letters"] and before["deleted"]
    with pytest.raises(LayoutError, match="movierec migrate"):
        Stores(client, SETTINGS)

    env = {**os.environ, "REDIS_URL": layout_one, "MOVIEREC_PREFIX": "movierec"}
    run = subprocess.run([sys.executable, "-m", "movierec", "migrate", "--no-progress"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("done: ") and f"{len(before['users'])} users" in run.stdout

    stores = assert_carried_over(client, before)
    # the store works: the waiting events drain (the poison item fails alone), a deleted
    # user's old events stay ignored, new events move the counters
    results = stores.inbox.drain(dict.fromkeys(range(stores.keys.partitions), 100))
    assert sum(r.applied for r in results.values() if not isinstance(r, Exception)) == 2
    assert [p for p, r in results.items() if isinstance(r, Exception)] == [
        stores.keys.partition_of(6)]
    assert stores.ratings.user_ratings(5)[11][0] == 3.5
    deleted_at = float(before["deleted"][b"4"])
    assert stores.ratings.apply([Event("rating", 4, 3, 8, deleted_at - 1)]).applied == 0
    applied = stores.ratings.events_applied()
    assert stores.ratings.apply([Event("favourite", 2000, 3, 0, time.time())]).applied == 1
    assert stores.counters.movie_stats(3).n_favourites >= 1
    assert stores.ratings.events_applied() == applied + 1

    again = subprocess.run([sys.executable, "-m", "movierec", "migrate", "--no-progress"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "nothing to move" in again.stdout


def test_a_move_stopped_half_way_is_refused_then_resumed(layout_one, monkeypatch):
    from shared.store import migrate

    client = redis.Redis.from_url(layout_one)
    before = old_state(client)
    monkeypatch.setattr(migrate, "BATCH", 7)

    def stop_after_a_batch(step, done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrate.migrate(client, "movierec", 16, stop_after_a_batch)
    keys = migrate.begin(client, "movierec", 16)
    assert sum(client.scard(keys.users(p)) for p in range(16)) == 7  # copied, not yet let go
    with pytest.raises(LayoutError, match="half-way"):
        Stores(client, SETTINGS)

    moved = migrate.migrate(client, "movierec", 16)
    assert moved["users"] == len(before["users"])  # the first batch copied again
    assert_carried_over(client, before)
    assert migrate.migrate(client, "movierec", 16) == {}
