"""Seeding a version's counters in bulk gives the counters placing the users one by one gives,
on fakeredis and on a real Redis (same assertions)."""
import json

import numpy as np
import pandas as pd
import pytest

from shared.data.events import Event
from shared.store.counted_versions import CountedVersions
from shared.store.deltas import totals_source
from shared.store.keys import Keys
from shared.store.ratings import RatingStore, Seeded
from shared.store.seeding import ClusterTotals, Seeding, total_bodies

KEYS = Keys("t")


@pytest.fixture
def store(client):
    return RatingStore(client, KEYS)


def rating(user, movie, half_stars, ts):
    return Event("rating", user, movie, half_stars, float(ts))


def counted(store, *versions):
    for version in versions:
        CountedVersions(store.redis, KEYS).count(version)
        for partition in range(KEYS.partitions):
            store.redis.hset(KEYS.version_params(version, partition),
                             mapping={"shrink": 2.0, "mu": 3.0})


def counters(store, version, clusters):
    """Every cluster's counters under ``version`` and its size (members at 0 left out)."""
    r = store.redis
    out = {}
    for c in clusters:
        size = r.hget(KEYS.cluster_sizes(version, KEYS.partition_of(c)), c)
        out[c] = (int(size or 0),
                  {k: int(v) for k, v in r.hgetall(KEYS.cluster_counts(version, c)).items()
                   if int(v)},
                  {k: int(v) for k, v in r.hgetall(KEYS.cluster_sums(version, c)).items()
                   if int(v)},
                  dict(r.zrange(KEYS.cluster_favourites(version, c), 0, -1, withscores=True)),
                  {k: round(s, 9) for k, s in
                   r.zrange(KEYS.cluster_means(version, c), 0, -1, withscores=True)})
    return out


def some_ratings(users=30, movies=25, seed=3):
    rng = np.random.default_rng(seed)
    events = [rating(int(u), int(m), int(rng.integers(1, 11)), 100 + i)
              for i, (u, m) in enumerate(zip(rng.integers(1, users + 1, 400),
                                             rng.integers(1, movies + 1, 400)))]
    events += [Event("favourite", 1, 99, 0, 1000.0)]  # favoured, never rated
    events += [rating(2, 98, 6, 1000), Event("remove", 2, 98, 0, 1001.0)]  # a tombstone
    return events


def test_seeding_gives_the_counters_placing_one_by_one_gives(store):
    counted(store, "one-by-one", "seeded")
    store.apply(some_ratings())
    clusters = {user: user % 4 for user in store.iter_user_ids()}
    store.assign("one-by-one", clusters)
    seeding = Seeding(store, "seeded")
    users = sorted(clusters)
    for start in range(0, len(users), 7):
        assert seeding.place({u: clusters[u] for u in users[start:start + 7]})
    assert seeding.placed == len(users)
    seeding.finish()
    assert counters(store, "seeded", range(4)) == counters(store, "one-by-one", range(4))
    assert counters(store, "seeded", range(4))[1][3][b"99"] == 1  # the favourite alone


def test_events_before_and_after_a_user_is_placed_count_once(store):
    counted(store, "one-by-one", "seeded")
    store.apply(some_ratings())
    clusters = {user: user % 4 for user in store.iter_user_ids()}
    seeding = Seeding(store, "seeded")
    assert seeding.place({u: c for u, c in clusters.items() if u <= 15})
    store.apply([rating(3, 1, 10, 5000), rating(20, 1, 10, 5000), rating(3, 77, 2, 5000),
                 rating(21, 78, 9, 5000)])
    store.delete_user(4)
    del clusters[4]
    assert seeding.place({u: c for u, c in clusters.items() if u > 15})
    store.apply([rating(3, 1, 1, 6000), rating(20, 79, 10, 6000)])
    seeding.finish()
    store.assign("one-by-one", clusters)
    assert counters(store, "seeded", range(4)) == counters(store, "one-by-one", range(4))


def test_a_user_placed_already_is_left_where_they_are(store):
    counted(store, "v")
    store.apply([rating(1, 10, 8, 100), rating(2, 10, 4, 100)])
    store.assign("v", {1: 0})
    seeded = store.seed("v", {1: 2, 2: 2})
    assert seeded.users.tolist() == [2] and seeded.clusters.tolist() == [2]
    assert store.redis.hget(KEYS.assignments("v", KEYS.partition_of(1)), 1) == b"0"


def test_seed_returns_the_entries_of_the_users_it_places(store):
    counted(store, "v")
    store.apply([rating(5, 10, 8, 100), rating(5, 11, 3, 100), Event("favourite", 5, 12, 0, 100),
                 rating(5, 13, 4, 100), Event("remove", 5, 13, 0, 200)])
    seeded = store.seed("v", {5: 1})
    got = sorted(zip(seeded.movies.tolist(), seeded.halves.tolist(),
                     seeded.favourites.tolist()))
    assert got == [(10, 8, True), (11, 3, False), (12, 0, True)]
    assert seeded.numbers.tolist() == [3]


def test_seeding_a_version_no_longer_counted_places_nobody(store):
    store.apply([rating(1, 10, 8, 100)])
    assert store.seed("gone", {1: 0}) is None
    assert not Seeding(store, "gone").place({1: 0})
    assert store.redis.hget(KEYS.assignments("gone", KEYS.partition_of(1)), 1) is None


def test_totals_are_folded_once_even_when_sent_twice(store):
    counted(store, "v")
    bodies = total_bodies("v", pd.DataFrame({"cluster": [0], "movie_id": [10], "ratings": [2],
                                             "half_stars": [15], "favourites": [1]}),
                          {0: 2}, KEYS.partition_of)
    source = totals_source("v")
    store.deltas.fold_totals(source, bodies)
    store.deltas.fold_totals(source, bodies)  # as a retried command would
    assert counters(store, "v", [0])[0][:4] == (2, {b"10": 2}, {b"10": 15}, {b"10": 1.0})


def seeded(clusters, numbers, movies, halves):
    return Seeded(np.arange(len(clusters)), np.array(clusters), np.array(numbers),
                  np.array(movies), np.array(halves), np.array(halves) >= 8)


def test_totals_add_up_over_batches(monkeypatch):
    monkeypatch.setattr("shared.store.seeding.ROWS_BEFORE_REDUCING", 2)
    totals = ClusterTotals()
    totals.add(seeded([0, 1], [2, 1], [10, 11, 10], [8, 2, 4]))
    totals.add(seeded([0, 0], [1, 0], [10], [0]))  # a favourite-only entry has 0 half stars
    got = totals.totals()
    assert got.to_dict("records") == [
        {"cluster": 0, "movie_id": 10, "ratings": 1, "half_stars": 8, "favourites": 1},
        {"cluster": 0, "movie_id": 11, "ratings": 1, "half_stars": 2, "favourites": 0},
        {"cluster": 1, "movie_id": 10, "ratings": 1, "half_stars": 4, "favourites": 0}]
    assert totals.sizes == {0: 3, 1: 1}


def test_bodies_hold_at_most_their_share_and_a_size_once(monkeypatch):
    monkeypatch.setattr("shared.store.seeding.TOTALS_PER_CALL", 2)
    totals = pd.DataFrame({"cluster": [0, 0, 0, 1], "movie_id": [1, 2, 3, 1],
                           "ratings": [1, 1, 1, 1], "half_stars": [2, 4, 6, 8],
                           "favourites": [0, 0, 0, 1]})
    bodies = total_bodies("v", totals, {0: 5, 1: 1, 2: 1}, KEYS.partition_of)
    changes = [(home, json.loads(body)["versions"]["v"]) for home, body in bodies]
    assert [home for home, _ in changes] == [KEYS.partition_of(c) for c in (0, 0, 1, 2)]
    assert [c["sizes"] for _, c in changes] == [{"0": 5}, {}, {"1": 1}, {"2": 1}]
    assert [c["clusters"] for _, c in changes] == [
        {"0": {"1": [1, 2, 0], "2": [1, 4, 0]}}, {"0": {"3": [1, 6, 0]}},
        {"1": {"1": [1, 8, 1]}}, {"2": {}}]
