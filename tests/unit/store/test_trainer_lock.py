"""One trainer at a time, and what a killed trainer leaves behind lapses with its lock."""
import os
import time

import pytest

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


def test_a_holder_builds_and_flips_and_a_stranger_cannot(client):
    lock, stranger = TrainerLock(client, KEYS), TrainerLock(client, KEYS)
    with lock.held():
        lock.build("v2")
        assert client.get(KEYS.building_version) == b"v2"
        with pytest.raises(LockLost):
            stranger.flip("v3")
        lock.flip("v2")
    assert client.get(KEYS.active_version) == b"v2"
    assert not client.exists(KEYS.building_version)
    assert client.hget(KEYS.version_states, "v2") == b"published"


def test_a_killed_trainers_lock_and_building_pointer_lapse_and_it_cannot_activate(client):
    dead = TrainerLock(client, KEYS, ttl=1.0)  # (with 0.2 s, a test process stalled that long
    assert dead.acquire()                      # by a busy machine lost the lock before build)
    dead.build("half-built")  # and then the process is killed: nobody renews
    assert 0 < client.pttl(KEYS.building_version) <= 1000
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
