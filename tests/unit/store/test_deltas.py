"""The counters over all users, folded from the partitions' deltas (shared/store/deltas.py and
merge.lua) into the partitions of their movies and clusters, on fakeredis and on a real Redis
(same assertions)."""
import itertools
import json
import random

import pytest
import redis

from shared.data.events import MAX_ID, Event
from shared.store.counted_versions import CountedVersions
from shared.store.deltas import Deltas
from shared.store.keys import Keys
from shared.store.ratings import LOG_LENGTH, RatingsScript, RatingStore
from tests.conftest import over_partitions

KEYS = Keys("t")
P1, P2 = KEYS.partition_of(1), KEYS.partition_of(2)
# another user of user 1's partition
SAME_AS_1 = next(u for u in range(2, 1000) if KEYS.partition_of(u) == P1)
# the partitions of the movies the tests rate (home: where a movie's counters live)
HOME = {movie: KEYS.partition_of(movie) for movie in (3, 10, 11, 12, 13)}


@pytest.fixture
def store(client):
    return RatingStore(client, KEYS)


def rating(user, movie, stars, ts, event_id=""):
    return Event("rating", user, movie, int(stars * 2), float(ts), event_id)


def counters(client):
    """Every counter over all users, as numbers: per movie (over the partitions), and the
    events applied (summed over the partitions)."""
    return ({k: int(v) for k, v in over_partitions(client, KEYS.movie_counts,
                                                   KEYS.partitions).items()},
            {k: int(v) for k, v in over_partitions(client, KEYS.movie_sums,
                                                   KEYS.partitions).items()},
            {k: int(s) for k, s in over_partitions(client, KEYS.popular, KEYS.partitions).items()},
            RatingStore(client, KEYS).events_applied())


def merged(client, partition):
    """home partition -> the sequence number of the last of ``partition``'s deltas merged
    there, for the homes that merged any."""
    found = {}
    for home in range(KEYS.partitions):
        seq = client.hget(KEYS.merged_deltas(home), partition)
        if seq is not None:
            found[home] = int(seq)
    return found


def entries(raw):
    """Delta entries ('<sequence> <home partition> <JSON>') as (sequence, home, delta)."""
    out = []
    for entry in raw:
        seq, home, body = entry.split(b" ", 2)
        out.append((int(seq), int(home), json.loads(body)))
    return out


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
    # each movie's counters in its own partition only
    assert r.hgetall(KEYS.movie_counts(HOME[10])) == {b"10": b"2"}
    assert r.hgetall(KEYS.movie_counts(HOME[11])) == {b"11": b"1"}
    for partition in (P1, P2):  # a delta each, merged, then dropped
        assert r.llen(KEYS.deltas(partition)) == 0
        assert int(r.get(KEYS.delta_sequence(partition))) == 1
    # each home knows what it merged of each partition
    assert merged(r, P1) == {HOME[10]: 1, HOME[11]: 1} and merged(r, P2) == {HOME[10]: 1}
    store.apply([rating(1, 12, 3.0, 101)])
    assert merged(r, P1) == {HOME[10]: 1, HOME[11]: 1, HOME[12]: 2}
    assert merged(r, P2) == {HOME[10]: 1}
    assert r.llen(KEYS.deltas(P1)) == 0


def test_a_call_that_changes_no_counter_records_no_delta(store):
    r = store.redis
    store.apply([rating(1, 10, 4.5, 100)])
    before = counters(r)
    assert store.apply([rating(1, 10, 4.5, 100)]).skipped == 1  # the same state again
    assert counters(r) == before and merged(r, P1) == {HOME[10]: 1}
    assert int(r.get(KEYS.delta_sequence(P1))) == 1


def test_a_delta_folded_twice_changes_nothing(store):
    r = store.redis
    pending = die_after_applying(r, 1, [rating(1, 10, 4.5, 100), rating(1, 11, 2.0, 100)])
    # an entry per partition of counters the call moved, one sequence number
    assert sorted((seq, home) for seq, home, _ in entries(pending)) == sorted(
        [(1, HOME[10]), (1, HOME[11])])
    # the events are counted by the partition that applied them, the movies not yet
    assert counters(r) == ({}, {}, {}, 2)
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
    assert r.llen(KEYS.deltas(P1)) == 0 and merged(r, P1) == {HOME[10]: 2, HOME[11]: 1}


def test_nothing_to_fold_is_no_call(store):
    assert store.deltas.fold({}) == {} and store.deltas.fold({P1: []}) == {}
    assert not store.redis.exists(*(KEYS.merged_deltas(p) for p in range(KEYS.partitions)))


def test_the_deltas_a_dead_caller_left_are_folded_by_the_next_call_on_its_partition(store):
    r = store.redis
    die_after_applying(r, 1, [rating(1, 10, 4.5, 100)])
    die_after_applying(r, 1, [rating(1, 11, 2.0, 100)], now=101.0)
    die_after_applying(r, 2, [rating(2, 12, 3.0, 100)])
    assert r.llen(KEYS.deltas(P1)) == 2 and r.llen(KEYS.deltas(P2)) == 1
    assert counters(r) == ({}, {}, {}, 3)  # applied, the movies not yet counted
    store.apply([rating(SAME_AS_1, 10, 3.0, 100)])  # the next call on user 1's partition
    assert counters(r) == ({b"10": 2, b"11": 1}, {b"10": 15, b"11": 4}, {b"10": 1}, 4)
    assert r.llen(KEYS.deltas(P1)) == 0 and merged(r, P1) == {HOME[10]: 3, HOME[11]: 2}
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


def prepare(client, version, shrink=0.0, mu=3.0):
    """The params of ``version`` in every partition (as ModelStore.prepare_counters writes
    them in the partitions of the version's clusters)."""
    for partition in range(KEYS.partitions):
        client.hset(KEYS.version_params(version, partition), mapping={"shrink": shrink, "mu": mu})


def test_a_homes_merge_passes_over_a_version_its_copy_does_not_count(store):
    r = store.redis
    counted = CountedVersions(r, KEYS)
    counted.count("v1")
    counted.count("v2")
    prepare(r, "v1")
    prepare(r, "v2")
    # cluster 5 of v2 lives in a partition that no longer counts v2 (its copy dropped it);
    # user 1's partition still does, and so records the changes of v2's cluster 5
    home = KEYS.partition_of(5)
    assert home not in (P1, KEYS.partition_of(0), HOME[10], HOME[11])
    r.hdel(KEYS.counted_versions(home), "v2")
    # the global pointers name v2: the merge reads the home's copy, not them
    r.set(KEYS.active_version, "v1")
    r.set(KEYS.building_version, "v2")
    store.apply([rating(1, 10, 4.5, 100)])
    assert store.assign("v1", {1: 0}) == 1
    assert store.assign("v2", {1: 5}) == 1  # the partition counts v2: its delta is recorded
    assert r.hgetall(KEYS.cluster_sizes("v1", KEYS.partition_of(0))) == {b"0": b"1"}
    assert r.hgetall(KEYS.cluster_counts("v1", 0)) == {b"10": b"1"}
    # but no counter of v2 is made: only the assignment, in the user's partition
    assert {k for k in r.keys(KEYS.version_pattern("v2")) if not k.endswith(b":params")} == {
        KEYS.assignments("v2", P1).encode()}
    assert r.hget(KEYS.assignments("v2", P1), 1) == b"5"
    assert r.llen(KEYS.deltas(P1)) == 0  # and the delta is forgotten all the same
    assert merged(r, P1)[home] == 3  # passed over, as merged
    # an event of the user moves both versions' clusters: v1's counted, v2's passed over
    store.apply([rating(1, 11, 2.0, 101)])
    assert r.hgetall(KEYS.cluster_counts("v1", 0)) == {b"10": b"1", b"11": b"1"}
    assert not r.exists(KEYS.cluster_counts("v2", 5), KEYS.cluster_sizes("v2", home))
    # once the home counts v2 again, its deltas are folded (the pointers unchanged)
    counted.count("v2")
    store.apply([rating(1, 12, 3.0, 102)])
    assert r.hgetall(KEYS.cluster_counts("v2", 5)) == {b"12": b"1"}
    assert r.hgetall(KEYS.cluster_counts("v1", 0)) == {b"10": b"1", b"11": b"1", b"12": b"1"}
    # and a home that counts a version the pointers no longer name folds it too
    r.delete(KEYS.building_version)
    store.apply([rating(1, 13, 4.0, 103)])
    assert r.hgetall(KEYS.cluster_counts("v2", 5)) == {b"12": b"1", b"13": b"1"}


def test_a_member_whose_net_change_in_a_call_is_zero_is_not_written(store):
    r = store.redis
    store.apply([rating(1, 10, 4.5, 100), Event("remove", 1, 10, 0, 101.0),
                 rating(1, 11, 3.0, 100)])
    assert counters(r) == ({b"11": 1}, {b"11": 6}, {}, 3)
    assert r.hget(KEYS.movie_counts(HOME[10]), 10) is None
    assert r.zscore(KEYS.popular(HOME[10]), 10) is None


def test_deltas_of_many_partitions_fold_in_one_call(store):
    r = store.redis
    pending = {P1: die_after_applying(r, 1, [rating(1, 10, 4.5, 100)]),
               P2: die_after_applying(r, 2, [rating(2, 10, 1.0, 100)])}
    assert Deltas(r, KEYS, RatingsScript(r, KEYS)).fold(pending) == {P1: 1, P2: 1}
    assert counters(r) == ({b"10": 2}, {b"10": 11}, {b"10": 1}, 2)
    assert r.llen(KEYS.deltas(P1)) == r.llen(KEYS.deltas(P2)) == 0
    assert r.hgetall(KEYS.merged_deltas(HOME[10])) == {str(P1).encode(): b"1",
                                                       str(P2).encode(): b"1"}
    assert merged(r, P1) == merged(r, P2) == {HOME[10]: 1}


# a user of P1 moves the counters of these movies and of cluster 3 (v1) in one call
SPREAD_MOVIES = (3, 10, 11, 12, 13)
SPREAD_CLUSTER = 3


def counter_keys(client) -> dict:
    """Every counter key's contents (members at 0 left out): what a fold moves."""
    out = {}
    for key in client.scan_iter(count=1000):
        name = key.decode()
        if not any(part in name for part in (":stats:", ":popular", ":c:", ":sizes")):
            continue
        if client.type(key) == b"zset":
            out[name] = {m: s for m, s in client.zrange(key, 0, -1, withscores=True) if s}
        elif client.type(key) == b"hash":
            out[name] = {f: v for f, v in client.hgetall(key).items() if v != b"0"}
        else:
            out[name] = client.get(key)
    return out


def spread_call(store):
    """User 1, in cluster 3 of v1, rates the ``SPREAD_MOVIES`` in one call that dies before
    its fold: the call's deltas (a pending entry per home)."""
    r = store.redis
    CountedVersions(r, KEYS).count("v1")
    prepare(r, "v1", shrink=1.0, mu=3.0)
    assert store.assign("v1", {1: SPREAD_CLUSTER}) == 1
    return die_after_applying(r, 1, [rating(1, movie, 4.0, 100) for movie in SPREAD_MOVIES])


def assert_spread_folded_once(r):
    cluster_home = KEYS.partition_of(SPREAD_CLUSTER)
    for movie in SPREAD_MOVIES:  # each movie counted once, in its home only
        for partition in range(KEYS.partitions):
            expected = b"1" if partition == HOME[movie] else None
            assert r.hget(KEYS.movie_counts(partition), movie) == expected, (movie, partition)
            if partition == HOME[movie]:
                assert r.hget(KEYS.movie_sums(partition), movie) == b"8"
                assert r.zscore(KEYS.popular(partition), movie) == 1
    assert r.hgetall(KEYS.cluster_counts("v1", SPREAD_CLUSTER)) == {
        str(m).encode(): b"1" for m in SPREAD_MOVIES}
    assert r.hgetall(KEYS.cluster_sums("v1", SPREAD_CLUSTER)) == {
        str(m).encode(): b"8" for m in SPREAD_MOVIES}
    means = dict(r.zrange(KEYS.cluster_means("v1", SPREAD_CLUSTER), 0, -1, withscores=True))
    assert means == {str(m).encode(): pytest.approx((4.0 + 3.0) / 2) for m in SPREAD_MOVIES}
    assert r.hgetall(KEYS.cluster_sizes("v1", cluster_home)) == {b"3": b"1"}


def test_a_delta_moving_counters_in_several_partitions_folds_into_each_once(store):
    r = store.redis
    pending = spread_call(store)
    homes = {HOME[m] for m in SPREAD_MOVIES} | {KEYS.partition_of(SPREAD_CLUSTER)}
    assert len(homes) == 5 and HOME[3] == KEYS.partition_of(SPREAD_CLUSTER)
    found = entries(pending)
    assert sorted(home for _, home, _ in found) == sorted(homes)  # an entry per home
    assert {seq for seq, _, _ in found} == {2}  # one call: one sequence number
    for _, home, delta in found:  # each entry holds its home's counters only
        assert {int(m) for m in delta["movies"] or {}} == {m for m in SPREAD_MOVIES
                                                     if HOME[m] == home}
        clusters = {int(c) for v in (delta["versions"] or {}).values() for c in v["clusters"]}
        assert clusters == ({SPREAD_CLUSTER} if home == HOME[3] else set())
    assert store.deltas.fold({P1: pending}) == {P1: 2}
    assert_spread_folded_once(r)
    assert merged(r, P1) == {home: 2 for home in homes}
    assert r.llen(KEYS.deltas(P1)) == 0
    folded = counter_keys(r)
    # sent again, all of it or one entry: every home passes it over
    assert store.deltas.fold({P1: pending}) == {P1: 2}
    assert store.deltas.fold({P1: pending[2:3]}) == {P1: 2}
    assert counter_keys(r) == folded
    assert_spread_folded_once(r)


def test_a_home_whose_merge_failed_is_folded_when_sent_again_the_others_not_twice(store):
    r = store.redis
    pending = spread_call(store)
    broken = HOME[11]
    r.set(KEYS.movie_counts(broken), "not a hash")  # its merge fails at its first write
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.deltas.fold({P1: pending})
    # the other homes counted theirs; the deltas stay, to be sent again
    assert set(merged(r, P1)) == {HOME[m] for m in SPREAD_MOVIES} - {broken}
    assert r.lrange(KEYS.deltas(P1), 0, -1) == pending
    assert r.hget(KEYS.movie_counts(HOME[10]), 10) == b"1"
    r.delete(KEYS.movie_counts(broken))
    # the next call on the partition sends them again: the failed home folds its entry, the
    # others pass theirs over
    assert store.apply([rating(1, 10, 4.0, 100)]).skipped == 1
    assert_spread_folded_once(r)
    assert r.llen(KEYS.deltas(P1)) == 0
    assert merged(r, P1)[broken] == 2


# movie ids of every size the events accept: small ones, around the 16-bit halves the Lua
# hash splits them into, up to 2**31 - 1 and past 2**32, to the largest id (2**53 - 1)
EDGE_IDS = [0, 1, 2, 65_535, 65_536, 65_537, 2**24, 2**31 - 2, 2**31 - 1, 2**32 - 1, 2**32,
            2**32 + 5, 2**40 + 7, MAX_ID - 1, MAX_ID]


@pytest.mark.parametrize("partitions", [16, 3, 64])
def test_the_lua_partition_of_is_the_python_one(client, partitions):
    """ratings.lua files each movie's and each cluster's changes under the partition
    Keys.partition_of gives (merge.lua trusts it: a home holds its own movies and clusters)."""
    keys = Keys("t", partitions)
    store = RatingStore(client, keys)
    rng = random.Random(partitions)
    movies = sorted(set(range(1, 400)) | set(EDGE_IDS[1:])
                    | {rng.randint(1, 2**31 - 1) for _ in range(600)}
                    | {rng.randint(2**31, MAX_ID) for _ in range(100)})
    user = 1
    partition = keys.partition_of(user)
    wire = [rating(user, movie, 4.0, 100).wire() for movie in movies]
    reply = store._run(partition, "apply", 100.0, json.dumps(wire, separators=(",", ":")), 0,
                       LOG_LENGTH)
    assert reply[0] == len(movies)
    found = entries(client.lrange(keys.deltas(partition), 0, -1))
    assert entries(reply[-1]) == found
    seen = {}
    for _, home, delta in found:
        for movie in delta["movies"]:
            assert int(movie) not in seen
            seen[int(movie)] = home
    assert seen == {movie: keys.partition_of(movie) for movie in movies}
    assert {home for _, home, _ in found} == set(range(partitions))
    # clusters: users of the partition, each put in a cluster of its own, cluster 0 too
    CountedVersions(client, keys).count("v1")
    clusters = sorted(set(range(0, 200)) | set(EDGE_IDS)
                      | {rng.randint(0, 2**31 - 1) for _ in range(200)})
    users = list(itertools.islice((u for u in itertools.count(2)
                                   if keys.partition_of(u) == partition), len(clusters)))
    assert len(users) == len(clusters)
    client.delete(keys.deltas(partition))
    pairs = [x for user, cluster in zip(users, clusters) for x in (user, cluster)]
    assert store._run(partition, "assign", "v1", *pairs)[0] == len(users)
    seen = {}
    for _, home, delta in entries(client.lrange(keys.deltas(partition), 0, -1)):
        assert not delta["movies"]  # ({} or [], as the Lua cjson encodes an empty table)
        for cluster in delta["versions"]["v1"]["sizes"]:
            assert int(cluster) not in seen
            seen[int(cluster)] = home
    assert seen == {cluster: keys.partition_of(cluster) for cluster in clusters}
