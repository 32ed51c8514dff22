"""Which versions the partitions keep cluster counters for (shared/store/counted_versions.py),
and what the ratings script makes of it, on fakeredis and on a real Redis."""
import time

import pytest

from shared.data.events import Event
from shared.store.counted_versions import CountedVersions
from shared.store.keys import Keys
from shared.store.ratings import RatingStore

KEYS = Keys("t", 4)


@pytest.fixture
def counted(client):
    return CountedVersions(client, KEYS)


def every_partition(counted):
    return [counted.of(p) for p in range(KEYS.partitions)]


def test_a_version_counted_for_good_or_for_a_while_in_every_partition(counted):
    assert every_partition(counted) == [{}] * 4
    counted.count("v1")
    assert every_partition(counted) == [{"v1": 0}] * 4
    before = int(time.time() * 1000)
    counted.count("v2", for_ms=5000)
    after = time.time() * 1000
    for versions in every_partition(counted):
        assert set(versions) == {"v1", "v2"} and versions["v1"] == 0
        assert before + 5000 <= versions["v2"] <= after + 5000 + 1
    counted.count("v2")  # made for good
    assert every_partition(counted) == [{"v1": 0, "v2": 0}] * 4
    assert counted.redis.hgetall(KEYS.counted_versions(3)) == {b"v1": b"0", b"v2": b"0"}


def test_keep_only_drops_the_other_versions_everywhere(counted):
    for version in ("v1", "v2", "v3"):
        counted.count(version)
    counted.redis.hdel(KEYS.counted_versions(2), "v1")  # a partition that already lost one
    counted.keep_only({"v2", "v9"})
    assert every_partition(counted) == [{"v2": 0}] * 4  # (keep_only adds none)
    counted.keep_only(set())
    assert every_partition(counted) == [{}] * 4
    assert not counted.redis.exists(*(KEYS.counted_versions(p) for p in range(4)))


def rated_and_assigned(client, version):
    """A user rates a movie and is assigned cluster 1 under ``version``: what assign says."""
    store = RatingStore(client, KEYS)
    client.set(KEYS.active_version, version)
    store.apply([Event("rating", 1, 10, 8, 100.0)])
    return store.assign(version, {1: 1})


def test_the_script_keeps_the_counters_of_the_versions_its_partition_counts(client, counted):
    counted.count("v1")
    assert rated_and_assigned(client, "v1") == 1
    assert client.hget(KEYS.cluster_counts("v1", 1), 10) == b"1"


def test_the_script_refuses_a_version_its_partition_does_not_count(client, counted):
    assert rated_and_assigned(client, "v1") == -1  # the active pointer alone is not enough
    assert not client.exists(KEYS.assignments("v1", KEYS.partition_of(1)))
    assert not client.keys(KEYS.version_pattern("v1"))


def test_a_version_counted_for_a_while_is_no_longer_counted_after(client, counted):
    counted.count("v1", for_ms=-1)  # lapsed: its trainer stopped renewing it
    assert rated_and_assigned(client, "v1") == -1
    counted.count("v1", for_ms=60_000)
    assert RatingStore(client, KEYS).assign("v1", {1: 1}) == 1


def test_assign_is_refused_when_any_partition_it_writes_to_does_not_count_the_version(
        client, counted):
    counted.count("v1")
    users = {}  # a user of each of two partitions
    for user in range(1, 100):
        users.setdefault(KEYS.partition_of(user), user)
    (p, u), (q, w) = list(users.items())[:2]
    client.hdel(KEYS.counted_versions(q), "v1")
    store = RatingStore(client, KEYS)
    client.set(KEYS.active_version, "v1")
    store.apply([Event("rating", u, 10, 8, 100.0), Event("rating", w, 10, 8, 100.0)])
    assert store.assign("v1", {u: 0, w: 0}) == -1
    assert not client.exists(KEYS.assignments("v1", q))  # w's partition wrote nothing
    assert store.assign("v1", {w: 0}) == -1
    assert store.assign("v1", {u: 1}) == 1  # u's partition counts v1
    assert client.hget(KEYS.assignments("v1", p), u) == b"1"
