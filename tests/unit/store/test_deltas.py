"""The counters over all users, folded from the partitions' deltas (shared/store/deltas.py and
merge.lua), on fakeredis and on a real Redis (same assertions)."""
import json

import pytest

from shared.data.events import Event
from shared.store.counted_versions import CountedVersions
from shared.store.deltas import Deltas
from shared.store.keys import Keys
from shared.store.ratings import LOG_LENGTH, RatingsScript, RatingStore

KEYS = Keys("t")
P1, P2 = KEYS.partition_of(1), KEYS.partition_of(2)
# another user of user 1's partition
SAME_AS_1 = next(u for u in range(2, 1000) if KEYS.partition_of(u) == P1)


@pytest.fixture
def store(client):
    return RatingStore(client, KEYS)


def rating(user, movie, stars, ts, event_id=""):
    return Event("rating", user, movie, int(stars * 2), float(ts), event_id)


def counters(client):
    """Every counter over all users merge.lua keeps, as numbers."""
    return ({k: int(v) for k, v in client.hgetall(KEYS.movie_counts).items()},
            {k: int(v) for k, v in client.hgetall(KEYS.movie_sums).items()},
            {k: int(s) for k, s in client.zrange(KEYS.popular, 0, -1, withscores=True)},
            int(client.get(KEYS.events_applied) or 0))


def die_after_applying(client, user, events, now=100.0):
    """What a caller that died right after its script call leaves: the events applied in the
    user's partition, the call's delta recorded there and folded into nothing. The deltas the
    call returned (those of its partition not yet known to be merged)."""
    reply = RatingsScript(client, KEYS)(
        KEYS.partition_of(user), "apply", now,
        json.dumps([e.wire() for e in events], separators=(",", ":")), 1, LOG_LENGTH)
    return reply[-1]


def test_a_call_folds_its_delta_and_its_partition_forgets_it(store):
    r = store.redis
    store.apply([rating(1, 10, 4.5, 100), rating(2, 10, 3.0, 100), rating(1, 11, 2.0, 100)])
    assert counters(r) == ({b"10": 2, b"11": 1}, {b"10": 15, b"11": 4}, {b"10": 1}, 3)
    for partition in (P1, P2):  # a delta each, merged, then dropped
        assert r.llen(KEYS.deltas(partition)) == 0
        assert store.deltas.merged_through(partition) == int(r.get(KEYS.delta_sequence(partition)))
        assert store.deltas.merged_through(partition) == 1
    store.apply([rating(1, 12, 3.0, 101)])
    assert store.deltas.merged_through(P1) == 2 and store.deltas.merged_through(P2) == 1
    assert r.llen(KEYS.deltas(P1)) == 0


def test_a_call_that_changes_no_counter_records_no_delta(store):
    r = store.redis
    store.apply([rating(1, 10, 4.5, 100)])
    before = counters(r)
    assert store.apply([rating(1, 10, 4.5, 100)]).skipped == 1  # the same state again
    assert counters(r) == before and store.deltas.merged_through(P1) == 1
    assert int(r.get(KEYS.delta_sequence(P1))) == 1


def test_a_delta_folded_twice_changes_nothing(store):
    r = store.redis
    pending = die_after_applying(r, 1, [rating(1, 10, 4.5, 100), rating(1, 11, 2.0, 100)])
    assert len(pending) == 1 and counters(r) == ({}, {}, {}, 0)
    assert store.deltas.fold({P1: pending}) == {P1: 1}
    folded = counters(r)
    assert folded == ({b"10": 1, b"11": 1}, {b"10": 9, b"11": 4}, {b"10": 1}, 2)
    assert r.llen(KEYS.deltas(P1)) == 0  # forgotten
    # sent again (a caller that died between the merge and the forgetting, and its
    # successor): passed over
    assert store.deltas.fold({P1: pending}) == {P1: 1}
    assert counters(r) == folded
    # and when the partition still holds it, the next call on the partition passes it over
    # and forgets it
    r.rpush(KEYS.deltas(P1), *pending)
    store.apply([rating(SAME_AS_1, 10, 1.0, 100)])
    assert counters(r) == ({b"10": 2, b"11": 1}, {b"10": 11, b"11": 4}, {b"10": 1}, 3)
    assert r.llen(KEYS.deltas(P1)) == 0 and store.deltas.merged_through(P1) == 2


def test_nothing_to_fold_is_no_call(store):
    assert store.deltas.fold({}) == {} and store.deltas.fold({P1: []}) == {}
    assert not store.redis.exists(KEYS.merged_deltas)


def test_the_deltas_a_dead_caller_left_are_folded_by_the_next_call_on_its_partition(store):
    r = store.redis
    die_after_applying(r, 1, [rating(1, 10, 4.5, 100)])
    die_after_applying(r, 1, [rating(1, 11, 2.0, 100)], now=101.0)
    die_after_applying(r, 2, [rating(2, 12, 3.0, 100)])
    assert r.llen(KEYS.deltas(P1)) == 2 and r.llen(KEYS.deltas(P2)) == 1
    assert counters(r) == ({}, {}, {}, 0)  # applied, not yet counted
    store.apply([rating(SAME_AS_1, 10, 3.0, 100)])  # the next call on user 1's partition
    assert counters(r) == ({b"10": 2, b"11": 1}, {b"10": 15, b"11": 4}, {b"10": 1}, 3)
    assert r.llen(KEYS.deltas(P1)) == 0 and store.deltas.merged_through(P1) == 3
    assert r.llen(KEYS.deltas(P2)) == 1  # another partition's wait for a call there
    assert store.delete_user(2, ts=200) == 1
    n, sums, popular, applied = counters(r)  # movie 12: +1 and -1, at 0 or absent
    assert (n.pop(b"12", 0), sums.pop(b"12", 0), popular.pop(b"12", 0)) == (0, 0, 0)
    assert (n, sums, popular, applied) == ({b"10": 2, b"11": 1}, {b"10": 15, b"11": 4},
                                           {b"10": 1}, 4)
    assert r.llen(KEYS.deltas(P2)) == 0


def test_the_deltas_a_dead_drain_left_are_folded_by_the_sweeps_drain(client):
    from tests.conftest import stores_on

    stores = stores_on(client, "t")
    die_after_applying(client, 1, [rating(1, 10, 4.5, 100)])
    inbox = stores.inbox
    assert inbox.length() == 0
    assert inbox.claim_drain(0) is True  # no event waits, but a delta does
    result = inbox.drain({P1: 10})[P1]
    assert (result.applied, result.left) == (0, 0)
    assert counters(client) == ({b"10": 1}, {b"10": 9}, {b"10": 1}, 1)
    # merged; the partition drops it on its next drain, or when the drain is done
    assert client.llen(KEYS.deltas(P1)) == 1
    assert inbox.drain({P1: 10})[P1].applied == 0 and client.llen(KEYS.deltas(P1)) == 0
    assert counters(client) == ({b"10": 1}, {b"10": 9}, {b"10": 1}, 1)
    die_after_applying(client, 1, [rating(1, 11, 3.0, 100)])
    inbox.drain({P1: 10})
    inbox.forget_merged()
    assert client.llen(KEYS.deltas(P1)) == 0
    assert inbox.release_drain(0) is True  # nothing waits any more


def test_a_delta_for_a_version_neither_active_nor_building_is_passed_over(store):
    r = store.redis
    counted = CountedVersions(r, KEYS)
    counted.count("v1")
    counted.count("v2")  # a partition may count more than the pointers name
    r.set(KEYS.active_version, "v1")
    r.hset(KEYS.version_params("v1"), mapping={"shrink": 0, "mu": 3})
    store.apply([rating(1, 10, 4.5, 100)])
    assert store.assign("v1", {1: 0}) == 1
    assert store.assign("v2", {1: 5}) == 1  # the partition counts v2: its delta is recorded
    assert r.hgetall(KEYS.cluster_sizes("v1")) == {b"0": b"1"}
    assert r.hgetall(KEYS.cluster_counts("v1", 0)) == {b"10": b"1"}
    assert not r.keys(KEYS.version_pattern("v2"))  # but no counter of v2 is made
    assert r.hget(KEYS.assignments("v2", P1), 1) == b"5"
    assert r.llen(KEYS.deltas(P1)) == 0  # and the delta is forgotten all the same
    # once v2 is being built, its deltas are folded
    r.set(KEYS.building_version, "v2")
    store.apply([rating(1, 11, 2.0, 101)])
    assert r.hgetall(KEYS.cluster_counts("v2", 5)) == {b"11": b"1"}
    assert r.hgetall(KEYS.cluster_counts("v1", 0)) == {b"10": b"1", b"11": b"1"}


def test_a_member_whose_net_change_in_a_call_is_zero_is_not_written(store):
    r = store.redis
    store.apply([rating(1, 10, 4.5, 100), Event("remove", 1, 10, 0, 101.0),
                 rating(1, 11, 3.0, 100)])
    assert counters(r) == ({b"11": 1}, {b"11": 6}, {}, 3)
    assert r.hget(KEYS.movie_counts, 10) is None and r.zscore(KEYS.popular, 10) is None


def test_deltas_of_many_partitions_fold_in_one_call(store):
    r = store.redis
    pending = {P1: die_after_applying(r, 1, [rating(1, 10, 4.5, 100)]),
               P2: die_after_applying(r, 2, [rating(2, 10, 1.0, 100)])}
    assert Deltas(r, KEYS, RatingsScript(r, KEYS)).fold(pending) == {P1: 1, P2: 1}
    assert counters(r) == ({b"10": 2}, {b"10": 11}, {b"10": 1}, 2)
    assert r.llen(KEYS.deltas(P1)) == r.llen(KEYS.deltas(P2)) == 0
    assert r.hgetall(KEYS.merged_deltas) == {str(P1).encode(): b"1", str(P2).encode(): b"1"}
