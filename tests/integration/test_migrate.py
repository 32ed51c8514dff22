"""``movierec migrate`` on stores written by the releases of the earlier layouts
(tests/fixtures/layout-one.rdb and layout-two.rdb, made by the scripts beside them): nothing of
them is lost, the services refuse them until they are moved, the counters the move splits
agree with the ratings, and a move stopped half-way goes on."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import redis

from shared.config import Settings
from shared.data.events import Event
from shared.store.keys import Keys, LayoutOneKeys, LayoutTwoKeys
from shared.store.layout import LayoutError
from shared.store.ratings import parse_entry
from shared.store.stores import Stores
from tests.conftest import free_port, over_partitions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OLD = LayoutOneKeys("movierec")
GLOBAL = LayoutTwoKeys("movierec")
SETTINGS = Settings(key_prefix="movierec", queue_name="movierec", model_dir=None)
PARTITIONS = 16


@pytest.fixture(params=["layout-one", "layout-two"])
def old_store(request, tmp_path):
    """A redis-server holding a fixture store: its layout's name and its URL."""
    from movierec.redis_server import find_redis_server

    shutil.copy(FIXTURES / f"{request.param}.rdb", tmp_path / "dump.rdb")
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
    yield request.param, f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)


def old_state(client, layout: str) -> dict:
    """What an earlier layout holds, read by its own key names (the second layout's per-user
    keys have the names the partitioned layout gives them)."""
    active = client.get("{movierec}:model:active").decode()
    if layout == "layout-one":
        users = sorted(int(u) for u in client.smembers(OLD.users))
        per_user = {name: client.hgetall(getattr(OLD, name))
                    for name in ("user_counts", "deleted_users")}
        clusters = client.hgetall(OLD.assignments(active))
        user_key, log_key = OLD.user, OLD.user_log
        inbox = client.lrange(OLD.inbox, 0, -1)
        dead_letters = client.lrange(OLD.dead_letters, 0, -1)
    else:
        keys = Keys("movierec", PARTITIONS)
        users = sorted(int(u) for p in range(PARTITIONS) for u in client.smembers(keys.users(p)))
        per_user = {name: over_partitions(client, getattr(keys, name), PARTITIONS)
                    for name in ("user_counts", "deleted_users")}
        clusters = over_partitions(client, keys.assignments, PARTITIONS, active)
        user_key, log_key = keys.user, keys.user_log
        inbox = [i for p in range(PARTITIONS) for i in client.lrange(keys.inbox(p), 0, -1)]
        dead_letters = [i for p in range(PARTITIONS)
                        for i in client.lrange(keys.dead_letters(p), 0, -1)]
    return {
        "users": users,
        "ratings": {u: client.hgetall(user_key(u)) for u in users},
        "logs": {u: client.lrange(log_key(u), 0, -1) for u in users},
        "counts": per_user["user_counts"],
        "deleted": per_user["deleted_users"],
        "active": active,
        "clusters": clusters,
        "movies": {int(m): json.loads(v) for m, v in client.hgetall(GLOBAL.movies).items()},
        "movie_counts": client.hgetall(GLOBAL.movie_counts),
        "popular": dict(client.zrange(GLOBAL.popular, 0, -1, withscores=True)),
        "applied": int(client.get(GLOBAL.events_applied)),
        "cluster_means": {int(c): client.zrange(f"{{movierec}}:v:{active}:c:{int(c)}:mean", 0, -1,
                                                withscores=True)
                          for c in client.hkeys(GLOBAL.cluster_sizes(active))},
        "inbox": inbox,
        "dead_letters": dead_letters,
    }


def counters_from_ratings(client, stores: Stores, version: str) -> dict:
    """The counters over all users as the users' hashes and clusters say they must be."""
    counts, sums, favourites = Counter(), Counter(), Counter()
    cluster_counts, cluster_sizes = defaultdict(Counter), Counter()
    for user in stores.ratings.iter_user_ids():
        cluster = stores.counters.cluster_of(version, user)
        if cluster is not None:
            cluster_sizes[cluster] += 1
        for movie, value in client.hgetall(stores.keys.user(user)).items():
            half, favourite, _ = parse_entry(value)
            movie, favourite = int(movie), int(favourite)
            counts[movie] += half > 0
            sums[movie] += half
            favourites[movie] += favourite
            if cluster is not None:
                cluster_counts[cluster][movie] += half > 0
    return {"counts": +counts, "sums": +sums, "favourites": +favourites,
            "cluster_sizes": +cluster_sizes,
            "cluster_counts": {c: +n for c, n in cluster_counts.items()}}


def stored_counters(client, stores: Stores, version: str) -> dict:
    keys = stores.keys

    def numbers(mapping) -> Counter:
        return +Counter({int(k): int(float(v)) for k, v in mapping.items()})

    sizes = numbers(over_partitions(client, keys.cluster_sizes, keys.partitions, version))
    return {"counts": numbers(over_partitions(client, keys.movie_counts, keys.partitions)),
            "sums": numbers(over_partitions(client, keys.movie_sums, keys.partitions)),
            "favourites": numbers(over_partitions(client, keys.popular, keys.partitions)),
            "cluster_sizes": sizes,
            "cluster_counts": {c: numbers(client.hgetall(keys.cluster_counts(version, c)))
                               for c in sizes}}


def assert_carried_over(client, before: dict, layout: str) -> Stores:
    stores = Stores(client, SETTINGS)
    keys = stores.keys
    active = before["active"]
    assert sorted(stores.ratings.iter_user_ids()) == before["users"]
    for user in before["users"]:
        assert client.hgetall(keys.user(user)) == before["ratings"][user]
        assert client.lrange(keys.user_log(user), 0, -1) == before["logs"][user]
        assert stores.counters.cluster_of(active, user) == (
            int(before["clusters"][str(user).encode()])
            if str(user).encode() in before["clusters"] else None)
    assert over_partitions(client, keys.user_counts, keys.partitions) == before["counts"]
    deleted = over_partitions(client, keys.deleted_users, keys.partitions)
    assert deleted == before["deleted"] and b"4" in deleted
    assert stores.models.active_version() == active
    assert stores.models.load(active).version == active
    assert stores.catalogue.all_movies() == before["movies"]
    assert over_partitions(client, keys.movie_counts, keys.partitions) == before["movie_counts"]
    assert over_partitions(client, keys.popular, keys.partitions) == before["popular"]
    # the second layout's unmerged delta applied one event the old counter had not counted
    assert stores.ratings.events_applied() == before["applied"] + (layout == "layout-two")
    for cluster, means in before["cluster_means"].items():
        assert client.zrange(keys.cluster_means(active, cluster), 0, -1, withscores=True) == means
    assert sorted(item for p in range(keys.partitions)
                  for item in client.lrange(keys.inbox(p), 0, -1)) == sorted(before["inbox"])
    assert [letter["id"] for letter in stores.inbox.dead_letters()] == ["0123456789ab"]
    assert not client.exists(OLD.users, OLD.inbox, OLD.dead_letters, OLD.user_counts,
                             GLOBAL.movies, GLOBAL.movie_counts, GLOBAL.popular,
                             GLOBAL.events_applied, GLOBAL.merged_deltas)
    assert not [k for k in client.scan_iter(match="{movierec}:u:*")]
    assert not [k for k in client.scan_iter(match=GLOBAL.version_keys)]
    assert not [k for k in client.scan_iter(match=GLOBAL.model_chunks)]
    return stores


def test_a_store_of_an_earlier_layout_is_refused_then_moved_whole(old_store):
    layout, url = old_store
    client = redis.Redis.from_url(url)
    before = old_state(client, layout)
    assert before["users"] and before["inbox"] and before["dead_letters"] and before["deleted"]
    assert len(before["cluster_means"]) >= 2
    with pytest.raises(LayoutError, match="movierec migrate"):
        Stores(client, SETTINGS)

    env = {**os.environ, "REDIS_URL": url, "MOVIEREC_PREFIX": "movierec"}
    run = subprocess.run([sys.executable, "-m", "movierec", "migrate", "--no-progress"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("done: ") and f"{len(before['movies'])} movies" in run.stdout
    if layout == "layout-one":
        assert f"{len(before['users'])} users" in run.stdout
    else:
        assert "1 deltas" in run.stdout

    stores = assert_carried_over(client, before, layout)
    # the store works: the waiting events drain (the poison item fails alone), and with them
    # the unmerged delta; the counters then agree with the ratings; a deleted user's old
    # events stay ignored, new events move the counters
    results = stores.inbox.drain(dict.fromkeys(range(stores.keys.partitions), 100))
    assert sum(r.applied for r in results.values() if not isinstance(r, Exception)) == 2
    assert [p for p, r in results.items() if isinstance(r, Exception)] == [
        stores.keys.partition_of(6)]
    stores.inbox.forget_merged()
    assert not [e for p in range(stores.keys.partitions)
                for e in client.lrange(stores.keys.deltas(p), 0, -1)]
    assert stored_counters(client, stores, before["active"]) == counters_from_ratings(
        client, stores, before["active"])
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


def test_a_move_stopped_half_way_is_refused_then_resumed(old_store, monkeypatch):
    from shared.store import migrate

    layout, url = old_store
    client = redis.Redis.from_url(url)
    before = old_state(client, layout)
    monkeypatch.setattr(migrate, "BATCH", 7)

    def stop_after_a_batch(step, done):  # the first layout's users, or the catalogue
        if step == ("users" if layout == "layout-one" else "movies"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrate.migrate(client, "movierec", PARTITIONS, stop_after_a_batch)
    keys = migrate.begin(client, "movierec", PARTITIONS)
    if layout == "layout-one":  # the first batch of users copied, not yet let go
        assert sum(client.scard(keys.users(p)) for p in range(PARTITIONS)) == 7
    else:  # the catalogue moved, the counters not yet
        assert len(over_partitions(client, keys.movies, PARTITIONS)) == len(before["movies"])
        assert client.exists(GLOBAL.movie_counts)
    with pytest.raises(LayoutError, match="half-way"):
        Stores(client, SETTINGS)

    moved = migrate.migrate(client, "movierec", PARTITIONS)
    if layout == "layout-one":
        assert moved["users"] == len(before["users"])  # the first batch copied again
    assert_carried_over(client, before, layout)
    assert migrate.migrate(client, "movierec", PARTITIONS) == {}
