"""The ratings store's semantics, on fakeredis and on a real Redis (same assertions)."""
import pandas as pd
import pytest

from shared.data.events import MAX_ID, Event
from shared.store.counted_versions import CountedVersions
from shared.store.keys import Keys
from shared.store.ratings import (
    LIVE_RECORD,
    RatingStore,
    entries_frame,
    entry,
    frame_to_wire,
    parse_entry,
)
from tests.conftest import over_partitions

KEYS = Keys("t")


@pytest.fixture
def store(client):
    return RatingStore(client, KEYS)


def per_partition(r, method, read="hgetall"):
    """The union of a per-partition hash (or set, with read="smembers") over the partitions."""
    out = {} if read == "hgetall" else set()
    for partition in range(KEYS.partitions):
        out.update(getattr(r, read)(method(partition)))
    return out


def counters(store):
    r = store.redis
    return (
        {k: int(v) for k, v in over_partitions(r, KEYS.movie_counts, KEYS.partitions).items()},
        {k: int(v) for k, v in over_partitions(r, KEYS.movie_sums, KEYS.partitions).items()},
        {k: int(s) for k, s in over_partitions(r, KEYS.popular, KEYS.partitions).items()},
        {k: int(v) for k, v in per_partition(r, KEYS.user_counts).items()},
    )


def rating(user, movie, stars, ts, event_id=""):
    return Event("rating", user, movie, int(stars * 2), float(ts), event_id)


def test_a_batch_tells_whose_number_of_ratings_moved_and_from_what(store):
    store.apply([rating(1, 10, 4.5, 100), rating(1, 11, 2, 100)])
    result = store.apply([rating(1, 12, 3, 200), rating(1, 10, 1, 200),  # one more, one changed
                          Event("remove", 1, 11, 0, 200.0), rating(2, 10, 3, 200),
                          Event("favourite", 3, 10, 0, 200.0)])   # a favourite is no rating
    assert result.changed == {1: (2, 2), 2: (0, 1)}  # user 1: one added, one removed
    result = store.apply([rating(1, 13, 3, 300), rating(1, 14, 3, 300)])
    assert result.changed == {1: (2, 4)}
    assert store.apply([rating(1, 13, 3, 300)]).changed == {}  # a replay moves nothing


def test_rating_updates_state_and_counters(store):
    result = store.apply([rating(1, 10, 4.5, 100), rating(2, 10, 3, 100), rating(1, 11, 2, 100)])
    assert (result.applied, result.skipped) == (3, 0)
    assert result.changed == {1: (0, 2), 2: (0, 1)}  # ratings before and after
    assert store.user_ratings(1) == {10: (4.5, True, 100.0), 11: (2.0, False, 100.0)}
    n, sums, fav, per_user = counters(store)
    assert n == {b"10": 2, b"11": 1}
    assert sums == {b"10": 15, b"11": 4}
    assert fav == {b"10": 1}
    assert per_user == {b"1": 2, b"2": 1}


def test_changed_rating_moves_counters_by_the_difference(store):
    store.apply([rating(1, 10, 4.5, 100)])
    store.apply([rating(1, 10, 2.0, 200)])
    n, sums, fav, _ = counters(store)
    assert n == {b"10": 1} and sums == {b"10": 4} and fav == {}  # no longer favoured: gone


def test_duplicate_and_older_events_change_nothing(store):
    store.apply([rating(1, 10, 4.0, 200, "e1")])
    before = counters(store), store.user_ratings(1)
    again = store.apply([rating(1, 10, 4.0, 200, "e1"),   # same id
                         rating(1, 10, 1.0, 150),         # older
                         rating(1, 10, 4.0, 200)])        # same state, no id
    assert again.applied == 0 and again.skipped == 3
    assert (counters(store), store.user_ratings(1)) == before


def test_event_id_seen_before_is_not_applied_even_with_new_content(store):
    store.apply([rating(1, 10, 4.0, 200, "same-id")])
    store.apply([rating(1, 10, 1.0, 300, "same-id")])
    assert store.user_ratings(1)[10][0] == 4.0


def test_favourite_and_unfavourite_keep_the_rating(store):
    store.apply([rating(1, 10, 3.0, 100), Event("favourite", 1, 10, 0, 110.0)])
    assert store.user_ratings(1)[10] == (3.0, True, 110.0)
    store.apply([Event("unfavourite", 1, 10, 0, 120.0)])
    assert store.user_ratings(1)[10] == (3.0, False, 120.0)
    n, sums, fav, _ = counters(store)
    assert n == {b"10": 1} and sums == {b"10": 6} and fav == {}


def test_remove_leaves_a_tombstone_that_older_events_cannot_undo(store):
    store.apply([rating(1, 10, 5.0, 100)])
    store.apply([Event("remove", 1, 10, 0, 200.0)])
    store.apply([rating(1, 10, 5.0, 150)])  # delivered late
    assert store.user_ratings(1) == {}
    n, sums, fav, per_user = counters(store)
    assert n == {b"10": 0} and sums == {b"10": 0} and fav == {} and per_user == {b"1": 0}


def test_event_log_is_capped_and_newest_first(store):
    store.apply([rating(1, m, 3.0, m) for m in range(1, 31)])
    log = store.redis.lrange(KEYS.user_log(1), 0, -1)
    assert len(log) == 20 and b'"30"' in log[0]


def ratings_frame(store):
    """Every rating in the store as a ratings frame (user_id, movie_id, rating, ts): the
    snapshot's rows with a rating."""
    live = store.snapshot()
    return (live.loc[live["rating"] > 0, ["user_id", "movie_id", "rating", "ts"]]
            .reset_index(drop=True))


def test_ratings_frame_round_trips_an_import(store):
    frame = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [5, 6, 5],
                          "rating": [4.0, 0.5, 3.5], "ts": [10, 11, 12]})
    assert store.apply_wire(frame_to_wire(frame), log=False).applied == 3
    assert store.apply_wire(frame_to_wire(frame), log=False).applied == 0  # re-import: no change
    back = ratings_frame(store).sort_values(["user_id", "movie_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def activate(store, version="v1", shrink=2.0, mu=3.0, priors=None):
    r = store.redis
    CountedVersions(r, KEYS).count(version)  # the partitions count it before it is active
    r.set(KEYS.active_version, version)
    for partition in range(KEYS.partitions):  # a copy in each partition (of its clusters)
        r.hset(KEYS.version_params(version, partition), mapping={"shrink": shrink, "mu": mu})
        if priors:
            r.hset(KEYS.movie_priors(version, partition), mapping=priors)


def cluster_state(store, c, version="v1"):
    r = store.redis
    return ({k: int(v) for k, v in r.hgetall(KEYS.cluster_counts(version, c)).items()},
            {k: int(v) for k, v in r.hgetall(KEYS.cluster_sums(version, c)).items()},
            {k: int(s) for k, s in r.zrange(KEYS.cluster_favourites(version, c), 0, -1,
                                            withscores=True) if s},
            dict(r.zrange(KEYS.cluster_means(version, c), 0, -1, withscores=True)))


def test_assign_moves_a_user_and_their_counts_between_clusters(store):
    activate(store, priors={"10": 4.0})
    store.apply([rating(1, 10, 5.0, 100), rating(1, 11, 2.0, 100)])
    assert store.assign("v1", {1: 0}) == 1
    n, sums, fav, mean = cluster_state(store, 0)
    assert n == {b"10": 1, b"11": 1} and sums == {b"10": 10, b"11": 4} and fav == {b"10": 1}
    # shrunk toward the prior: (5 + 2 * 4.0) / (1 + 2); movie 11 has no prior, so mu = 3
    assert mean[b"10"] == pytest.approx(13 / 3) and mean[b"11"] == pytest.approx(8 / 3)
    assert store.assign("v1", {1: 0}) == 0  # already there
    assert store.assign("v1", {1: 3}) == 1
    assert cluster_state(store, 0) == ({b"10": 0, b"11": 0}, {b"10": 0, b"11": 0}, {}, {})
    assert cluster_state(store, 3)[0] == {b"10": 1, b"11": 1}
    assert over_partitions(store.redis, KEYS.cluster_sizes, KEYS.partitions, "v1") == {
        b"0": b"0", b"3": b"1"}
    assert store.redis.hget(KEYS.cluster_sizes("v1", KEYS.partition_of(3)), 3) == b"1"
    assert store.assign("old-version", {1: 0}) == -1


def test_events_of_an_assigned_user_update_their_cluster(store):
    activate(store)
    store.apply([rating(1, 10, 3.0, 100)])
    store.assign("v1", {1: 2})
    store.apply([rating(1, 10, 4.0, 200), rating(2, 10, 1.0, 200)])  # user 2 has no cluster
    n, sums, fav, mean = cluster_state(store, 2)
    assert n == {b"10": 1} and sums == {b"10": 8} and fav == {b"10": 1}
    assert mean[b"10"] == pytest.approx((4.0 + 2 * 3.0) / 3)


# Per-call sequence numbers: each call takes the next, so one batch takes fewer than its events
# one at a time. The revisions are compared by what they are for instead (a change of a user is
# a new revision: test_every_change_of_a_user_bumps_their_revision).
SEQUENCES = {key for p in range(KEYS.partitions)
             for key in (KEYS.user_revisions(p), KEYS.user_revision_sequence(p),
                         KEYS.delta_sequence(p), KEYS.merged_deltas(p))}
# The counters over all users, kept by merge.lua: a member whose net change within one call is
# 0 is not written, so a member at 0 and one absent are the same count.
COUNTERS = {key for p in range(KEYS.partitions)
            for key in (KEYS.movie_counts(p), KEYS.movie_sums(p), KEYS.popular(p),
                        KEYS.cluster_sizes("v1", p))} | {
    key for c in range(4) for key in (KEYS.cluster_counts("v1", c), KEYS.cluster_sums("v1", c),
                                      KEYS.cluster_favourites("v1", c))}


def dump(client, skip=SEQUENCES):
    """Every key's contents (sorted sets with scores), except the ``skip`` keys; the members at
    0 of the ``COUNTERS`` are left out."""
    out = {}
    for key in client.scan_iter(count=1000):
        name = key.decode()
        if name in skip:
            continue
        kind = client.type(key).decode()
        if kind == "hash":
            out[name] = client.hgetall(key)
            if name in COUNTERS:
                out[name] = {k: v for k, v in out[name].items() if int(v) != 0}
        elif kind == "zset":
            out[name] = [(m, round(s, 9)) for m, s in client.zrange(key, 0, -1, withscores=True)
                         if not (name in COUNTERS and s == 0)]
        elif kind == "list":
            out[name] = client.lrange(key, 0, -1)
        elif kind == "set":
            out[name] = client.smembers(key)
        else:
            out[name] = client.get(key)
    return {name: value for name, value in out.items() if value or name not in COUNTERS}


def test_one_batch_leaves_the_state_of_its_events_one_at_a_time(fake_redis):
    """What the script does once per batch (per user, per cluster) must not change results:
    here movies move several times in one batch, to zero ratings and back."""
    import random

    import fakeredis

    rng = random.Random(3)
    kinds = ["rating"] * 6 + ["favourite", "unfavourite", "remove"]
    events = [Event(kind, rng.randint(1, 4), rng.randint(10, 13),
                    rng.randint(1, 10) if kind == "rating" else 0, float(100 + i))
              for i, kind in enumerate(rng.choice(kinds) for _ in range(120))]
    stores = [RatingStore(client, KEYS) for client in (fake_redis, fakeredis.FakeRedis())]
    for one in stores:
        activate(one, priors={"10": 4.0, "11": 2.5})
        one.apply([rating(1, 10, 3.0, 1), rating(3, 12, 4.0, 1)])
        one.assign("v1", {1: 0, 2: 0, 3: 1})
    batched, single = stores
    batched.apply(events)
    for event in events:
        single.apply([event])
    assert dump(batched.redis) == dump(single.redis)
    assert cluster_state(batched, 0)[0]  # the events did reach the clusters


def test_the_live_view_holds_what_the_hash_holds(store):
    """Read between batches of any size, the view the API reads (Keys.user_live) holds the
    hash's ratings (0.0 when only favoured), a record for each movie of the hash."""
    import random

    rng = random.Random(5)
    kinds = ["rating"] * 6 + ["favourite", "unfavourite", "remove"]
    movies = [1, 10, 11, 256, 2**40 + 7, MAX_ID]
    events = [Event(kind, rng.randint(1, 3), rng.choice(movies),
                    rng.randint(1, 10) if kind == "rating" else 0, float(100 + i))
              for i, kind in enumerate(rng.choice(kinds) for _ in range(200))]
    start = 0
    while start < len(events):
        size = rng.randint(1, 30)
        store.apply(events[start:start + size])
        start += size
        # read together to be placed, from the hashes: no view is made
        store.redis.delete(*(KEYS.user_live(user) for user in (1, 2, 3)))
        together = store.live_ratings_many([3, 4, 1, 2])
        assert not store.redis.exists(*(KEYS.user_live(user) for user in (1, 2, 3)))
        for user in (1, 2, 3):
            from_hash = {movie: stars for movie, (stars, _, _) in store.user_ratings(user).items()}
            assert store.live_ratings(user) == from_hash
            view = store.redis.get(KEYS.user_live(user)) or b""
            assert len(view) == LIVE_RECORD.itemsize * store.redis.hlen(KEYS.user(user))
        assert together == [store.live_ratings(u) for u in (3, 4, 1, 2)]
    assert store.live_ratings(4) == {} and store.live_ratings_many([]) == []


def test_an_entry_is_a_letter_for_its_state_then_its_ts(store):
    store.apply([rating(1, 10, 4.0, 964982703), rating(1, 11, 2.5, 964982703.25),
                 Event("favourite", 1, 12, 0, 7.0), Event("remove", 1, 13, 0, 8.0)])
    assert store.redis.hgetall(KEYS.user(1)) == {b"10": b"I964982703", b"11": b"f964982703.250",
                                                 b"12": b"A7", b"13": b"a8"}
    for half, favourite, ts in [(0, False, 8.0), (10, True, 1.5), (7, False, 1e9)]:
        assert parse_entry(entry(half, favourite, ts).encode()) == (half, favourite, ts)


def test_entries_of_the_earlier_form_are_read_and_rewritten_only_when_they_change(store):
    """A store written before the letters holds 'half|favourite|ts': it reads as it did, a
    replay of what it holds changes nothing, and a change writes the letter form."""
    store.apply([rating(1, 10, 4.0, 100), rating(1, 11, 2.0, 100)])
    store.redis.hset(KEYS.user(1), mapping={10: b"8|1|100", 11: b"4|0|100"})
    store.redis.delete(KEYS.user_live(1))
    assert store.user_ratings(1) == {10: (4.0, True, 100.0), 11: (2.0, False, 100.0)}
    assert store.live_ratings(1) == {10: 4.0, 11: 2.0}
    assert store.live_ratings_many([1]) == [store.live_ratings(1)]
    before = counters(store)
    assert store.apply([rating(1, 10, 4.0, 100)]).applied == 0
    assert store.redis.hget(KEYS.user(1), 10) == b"8|1|100"
    store.apply([rating(1, 11, 3.0, 101)])
    assert store.redis.hget(KEYS.user(1), 11) == b"g101"
    n, sums, fav, per_user = counters(store)
    assert (n, fav, per_user) == (before[0], before[2], before[3])
    assert sums[b"11"] == before[1][b"11"] + 2  # 2 stars to 3: two half stars more


def test_every_change_drops_the_users_live_view_and_the_next_read_makes_it(store):
    store.apply([rating(1, 10, 4.0, 100), Event("favourite", 1, 12, 0, 100.0)])
    assert not store.redis.exists(KEYS.user_live(1))
    assert store.live_ratings(1) == {10: 4.0, 12: 0.0}
    assert store.redis.exists(KEYS.user_live(1))
    store.apply([rating(1, 10, 4.0, 100)])  # no change: the view stays
    assert store.redis.exists(KEYS.user_live(1))
    store.apply([rating(1, 11, 2.0, 101)])
    assert not store.redis.exists(KEYS.user_live(1))
    assert store.live_ratings(1) == {10: 4.0, 11: 2.0, 12: 0.0}


def test_delete_user_removes_every_trace_and_is_idempotent(store):
    activate(store)
    store.apply([rating(1, 10, 5.0, 100), rating(1, 11, 2.0, 100), rating(2, 10, 3.0, 100)])
    store.assign("v1", {1: 0, 2: 0})
    assert store.delete_user(1, ts=150) == 2
    assert store.delete_user(1, ts=150) == 0
    assert store.user_ratings(1) == {}
    assert not store.redis.exists(KEYS.user(1), KEYS.user_live(1), KEYS.user_log(1))
    assert not store.redis.sismember(KEYS.users(KEYS.partition_of(1)), 1)
    assert per_partition(store.redis, KEYS.users, "smembers") == {b"2"}
    n, sums, fav, per_user = counters(store)
    assert n == {b"10": 1, b"11": 0} and sums == {b"10": 6, b"11": 0} and fav == {}
    assert per_user == {b"2": 1}
    assert cluster_state(store, 0)[:3] == ({b"10": 1, b"11": 0}, {b"10": 6, b"11": 0}, {})
    assert store.redis.hget(KEYS.cluster_sizes("v1", KEYS.partition_of(0)), 0) == b"1"
    # a late event from before the deletion does not bring the user back; a new one does
    store.apply([rating(1, 12, 4.0, 140)])
    assert store.user_ratings(1) == {}
    store.apply([rating(1, 12, 4.0, 160)])
    assert store.user_ratings(1) == {12: (4.0, True, 160.0)}


def test_every_change_of_a_user_bumps_their_revision(store):
    activate(store)

    def revision():
        return store.redis.hget(KEYS.user_revisions(KEYS.partition_of(1)), 1) or b"0"

    seen = [revision()]
    store.apply([rating(1, 10, 3.0, 100)])
    seen.append(revision())
    store.apply([rating(1, 10, 3.0, 100)])                    # no change, no new revision
    assert revision() == seen[-1]
    store.apply([rating(2, 10, 3.0, 100)])                    # another user's change
    assert revision() == seen[-1]
    store.assign("v1", {1: 0})
    seen.append(revision())
    store.delete_user(1, ts=200)
    seen.append(revision())
    assert len(set(seen)) == 4                                # each change: one never seen


def test_event_ids_are_forgotten_after_the_window(store):
    store.apply_wire([rating(1, 10, 4.0, 100, "old").wire()], now=1000.0)
    store.apply_wire([rating(1, 11, 4.0, 100, "new").wire()], now=1000.0 + 7 * 24 * 3600)
    assert store.trim_applied(max_ids=1000, now=1000.0 + 7 * 24 * 3600 + 1) == 1
    assert store.redis.zrange(KEYS.applied_events(KEYS.partition_of(1)), 0, -1) == [b"new"]


def test_the_window_also_keeps_only_the_newest_ids(store):
    for i in range(10):
        store.apply_wire([rating(1, 10 + i, 4.0, 100 + i, f"id-{i}").wire()], now=1000.0 + i)
    # each partition keeps its share of max_ids: user 1's partition, 4 of 4 * partitions
    max_ids = 4 * KEYS.partitions
    assert store.trim_applied(now=1100.0, max_ids=max_ids) == 6
    assert store.redis.zrange(KEYS.applied_events(KEYS.partition_of(1)), 0, -1) == [
        b"id-6", b"id-7", b"id-8", b"id-9"]
    assert store.trim_applied(now=1100.0, max_ids=max_ids) == 0


def test_each_partition_keeps_its_share_of_the_newest_ids(store):
    users = [1, 2, 3]  # in three partitions
    assert len({KEYS.partition_of(user) for user in users}) == 3
    for i in range(5):
        store.apply_wire([rating(user, 10 + i, 4.0, 100 + i, f"{user}-{i}").wire()
                          for user in users], now=1000.0 + i)
    # a share is max_ids / partitions, rounded up: 2 of 2 * partitions - 1
    assert store.trim_applied(now=1100.0, max_ids=2 * KEYS.partitions - 1) == 3 * 3
    for user in users:
        assert store.redis.zrange(KEYS.applied_events(KEYS.partition_of(user)), 0, -1) == [
            f"{user}-3".encode(), f"{user}-4".encode()]


def test_the_favourite_threshold_is_the_rating_scales(fake_redis, monkeypatch):
    monkeypatch.setattr("shared.store.ratings.FAVOURITE_HALF_STARS", 10)
    store = RatingStore(fake_redis, KEYS)
    store.apply([rating(1, 10, 4.5, 100), rating(1, 11, 5.0, 100)])
    assert store.user_ratings(1) == {10: (4.5, False, 100.0), 11: (5.0, True, 100.0)}


def test_an_import_leaves_what_its_ratings_applied_one_at_a_time_leave(fake_redis):
    """Users the store has never seen are written whole (``create_users``), the others go
    through the events' path: either way the state is the one the ratings leave applied one
    at a time, in the file's order (the latest of a user's ratings of a movie wins, the later
    of two at the same ts)."""
    import random

    import fakeredis

    rng = random.Random(5)
    rows = [(rng.randint(1, 40), rng.randint(10, 30), rng.randint(1, 10) / 2,
             float(rng.randint(100, 110))) for _ in range(600)]
    rows += [(7, 10, 1.0, 500.0), (7, 10, 5.0, 500.0)]  # a tie: the later row wins
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "ts"])
    imported, single = (RatingStore(client, KEYS) for client in (fake_redis, fakeredis.FakeRedis()))
    for one in (imported, single):  # a user the store knows, and a user deleted
        one.apply([rating(3, 10, 2.0, 105), rating(3, 99, 4.0, 1)])
        one.apply([rating(4, 10, 2.0, 1)])
        one.delete_user(4, 104.0)
    applied = imported.import_ratings(frame)
    for row in frame.itertuples(index=False):
        single.apply([rating(row.user_id, row.movie_id, row.rating, row.ts)], log=False)
    applied_counters = {KEYS.events_applied(p) for p in range(KEYS.partitions)}
    assert dump(imported.redis, SEQUENCES | applied_counters) == dump(
        single.redis, SEQUENCES | applied_counters)
    assert imported.user_ratings(7)[10][0] == 5.0
    assert imported.user_ratings(4) == single.user_ratings(4) and 10 not in imported.user_ratings(4)
    # a user written whole counts each movie once, however many of their rows name it
    fresh = frame[~frame["user_id"].isin([3, 4])]
    assert applied >= len(fresh.drop_duplicates(["user_id", "movie_id"]))
    imported.import_ratings(frame)  # again: the same state (rows tied on ts apply in turn)
    assert dump(imported.redis, SEQUENCES | applied_counters) == dump(
        single.redis, SEQUENCES | applied_counters)


def test_an_import_writes_the_users_it_has_never_seen_whole(store, monkeypatch):
    """A batch of new users takes one create_users call per partition, and none of their
    ratings goes through the events' path."""
    sent, apply_wire = [], store.apply_wire
    monkeypatch.setattr(store, "apply_wire",
                        lambda wire, log=True: sent.append(wire) or apply_wire(wire, log=log))
    frame = pd.DataFrame({"user_id": [1, 1, 2, 3], "movie_id": [10, 11, 10, 12],
                          "rating": [4.0, 2.5, 3.0, 5.0], "ts": [1.0, 2.0, 3.0, 4.5]})
    assert store.import_ratings(frame) == 4
    assert not sent
    assert store.user_ratings(1) == {10: (4.0, True, 1.0), 11: (2.5, False, 2.0)}
    n, sums, fav, per_user = counters(store)
    assert n == {b"10": 2, b"11": 1, b"12": 1} and sums == {b"10": 14, b"11": 5, b"12": 10}
    assert fav == {b"10": 1, b"12": 1} and per_user == {b"1": 2, b"2": 1, b"3": 1}
    assert store.events_applied() == 4
    assert store.import_ratings(frame) == 0  # again: nothing changes
    assert [len(wire) for wire in sent] == [4]  # known users now: their rows went as events


@pytest.mark.parametrize("earlier_form", [False, True])
def test_a_snapshot_holds_every_live_entry_as_it_is_stored(earlier_form):
    hashes = [{b"10": b"I964982703", b"11": b"c100.25", b"12": b"A7", b"13": b"a9"}, {},
              {b"5": b"k1"}]
    if earlier_form:
        hashes[2][b"6"] = b"6|1|42"
    frame = entries_frame([7, 8, 9], hashes)
    assert frame.to_dict("records") == [
        {"user_id": 7, "movie_id": 10, "rating": 4.0, "favourite": True, "ts": 964982703},
        {"user_id": 7, "movie_id": 11, "rating": 1.0, "favourite": False, "ts": 100},
        {"user_id": 7, "movie_id": 12, "rating": 0.0, "favourite": True, "ts": 7},
        {"user_id": 9, "movie_id": 5, "rating": 5.0, "favourite": False, "ts": 1},
        *([{"user_id": 9, "movie_id": 6, "rating": 3.0, "favourite": True, "ts": 42}]
          if earlier_form else [])]
    assert list(entries_frame([], []).columns) == list(frame.columns)
