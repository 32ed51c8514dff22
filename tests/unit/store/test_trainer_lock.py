"""One trainer at a time, and what a killed trainer leaves behind lapses with its lock."""
import os
import time

import pytest

from shared.store.counted_versions import CountedVersions
from shared.store.keys import Keys
from shared.store.trainer_lock import LockHeld, LockLost, TrainerLock

KEYS = Keys("t")


def test_one_holder_at_a_time_and_the_others_are_told_who(client):
    first, second = TrainerLock(client, KEYS), TrainerLock(client, KEYS)
    with first.held("movierec train"):
        with pytest.raises(LockHeld, match=f"movierec train on .*pid {os.getpid()}"):
            with second.held():
                pass
        assert first.holder()["pid"] == os.getpid()
    assert first.holder() is None
    with second.held():  # released: the next one gets it
        assert second.holder()["what"] == "retrain"


def counted(client):
    """What each partition counts: version -> until (ms; 0 for good)."""
    versions = CountedVersions(client, KEYS)
    return [versions.of(p) for p in range(KEYS.partitions)]


def test_a_holder_builds_and_flips_and_a_stranger_cannot(client):
    lock, stranger = TrainerLock(client, KEYS), TrainerLock(client, KEYS)
    CountedVersions(client, KEYS).count("v1")
    client.set(KEYS.active_version, "v1")
    with lock.held():
        lock.build("v2")
        assert client.get(KEYS.building_version) == b"v2"
        # every partition counts v2 beside v1, for twice the lock's expiry
        now_ms = time.time() * 1000
        for versions in counted(client):
            assert set(versions) == {"v1", "v2"} and versions["v1"] == 0
            assert now_ms < versions["v2"] <= now_ms + 2 * lock.ttl * 1000 + 1000
        with pytest.raises(LockLost):
            stranger.flip("v3")
        assert client.get(KEYS.active_version) == b"v1"
        lock.flip("v2")
        assert counted(client) == [{"v2": 0}] * KEYS.partitions  # for good, and only it
    assert client.get(KEYS.active_version) == b"v2"
    assert not client.exists(KEYS.building_version)
    assert client.hget(KEYS.version_states, "v2") == b"published"
    assert counted(client) == [{"v2": 0}] * KEYS.partitions


def test_a_trainer_that_gives_up_leaves_only_the_active_version_counted(client):
    CountedVersions(client, KEYS).count("v1")
    client.set(KEYS.active_version, "v1")
    lock = TrainerLock(client, KEYS)
    with lock.held():
        lock.build("v2")
        assert all(set(versions) == {"v1", "v2"} for versions in counted(client))
    assert counted(client) == [{"v1": 0}] * KEYS.partitions
    with lock.held():  # with no active version, none is counted
        client.delete(KEYS.active_version)
        lock.build("v3")
    assert counted(client) == [{}] * KEYS.partitions


def test_a_killed_trainers_lock_and_building_pointer_lapse_and_it_cannot_activate(client):
    dead = TrainerLock(client, KEYS, ttl=1.0)  # (with 0.2 s, a test process stalled that long
    assert dead.acquire()                      # by a busy machine lost the lock before build)
    dead.build("half-built")  # and then the process is killed: nobody renews
    assert 0 < client.pttl(KEYS.building_version) <= 1000
    # the partitions count it for longer than the pointer lives, never shorter
    pointer_until = time.time() * 1000 + client.pttl(KEYS.building_version)
    assert all(versions["half-built"] >= pointer_until - 50 for versions in counted(client))
    deadline = time.monotonic() + 5
    while client.exists(KEYS.trainer_lock, KEYS.building_version):
        assert time.monotonic() < deadline, "the lock or the building pointer never lapsed"
        time.sleep(0.05)
    successor = TrainerLock(client, KEYS, ttl=1.0)
    assert successor.acquire()
    with pytest.raises(LockLost):
        dead.flip("half-built")  # had it only been paused, it still could not activate
    assert client.get(KEYS.active_version) is None


def test_a_running_trainer_keeps_its_lock_past_the_expiry(client):
    lock = TrainerLock(client, KEYS, ttl=1.0)  # renewed every 1/3 s: a stall of 2/3 s is borne
    with lock.held():
        lock.build("v1")
        time.sleep(2.5)  # more than twice the expiry: renewed meanwhile
        assert client.exists(KEYS.trainer_lock, KEYS.building_version) == 2
        lock.flip("v1")
    assert client.get(KEYS.active_version) == b"v1"
