"""Reads of the live counters (fakeredis; those taking ``client`` on a real Redis too)."""
import time

import pytest

from shared.data.events import Event
from shared.recsys.strategies import ClusterCounters, ClusterReads
from shared.store.counters import CounterStore, MovieStats, TrendingCache, trending_buckets
from shared.store.keys import Keys
from tests.conftest import stores_on

KEYS = Keys("t")


@pytest.fixture
def counters(fake_redis):
    for user, cluster in {7: 2, 8: 0}.items():  # users of two partitions
        fake_redis.hset(KEYS.assignments("v1", KEYS.partition_of(user)), user, cluster)
    for cluster, size in {2: 5, 0: 1}.items():  # each in its cluster's partition
        fake_redis.hset(KEYS.cluster_sizes("v1", KEYS.partition_of(cluster)), cluster, size)
    fake_redis.zadd(KEYS.cluster_favourites("v1", 2), {10: 4, 20: 3, 30: 0})
    fake_redis.zadd(KEYS.cluster_means("v1", 2), {10: 3.5, 20: 4.25, 30: 2.0})
    fake_redis.hset(KEYS.cluster_counts("v1", 2), mapping={10: 3, 20: 2})
    return CounterStore(fake_redis, KEYS)


def test_cluster_of_a_user_under_a_version(counters):
    assert counters.cluster_of("v1", 7) == 2 and counters.cluster_of("v1", 8) == 0
    assert counters.cluster_of("v1", 9) is None and counters.cluster_of("v2", 7) is None
    assert KEYS.partition_of(7) != KEYS.partition_of(8)
    assert counters.clusters_of("v1", [9, 7, 8, 10]) == [None, 2, 0, None]
    assert counters.clusters_of("v1", [8, 7, 8]) == [0, 2, 0]
    assert counters.clusters_of("v2", [7]) == [None] and counters.clusters_of("v1", []) == []


def test_cluster_counters_read_the_heads_asked_for(counters):
    assert counters.cluster_counters("v1", 2, ClusterReads()) == ClusterCounters(2, 5)
    assert counters.cluster_counters("v1", 2, ClusterReads(favourites=2)) == ClusterCounters(
        2, 5, favourites=((10, 4.0), (20, 3.0)))
    both = counters.cluster_counters("v1", 2, ClusterReads(favourites=10, means=10))
    assert both.favourites == ((10, 4.0), (20, 3.0), (30, 0.0))
    assert both.means == ((20, 4.25, 2), (10, 3.5, 3), (30, 2.0, 0))  # no count yet: 0
    assert counters.cluster_counters("v1", 4, ClusterReads(means=3)) == ClusterCounters(4, 0)


def test_cluster_counters_read_the_size_from_the_clusters_partition(counters, fake_redis):
    assert KEYS.partition_of(2) != KEYS.partition_of(0)
    # a size in another partition's hash is not the cluster's
    fake_redis.hset(KEYS.cluster_sizes("v1", KEYS.partition_of(0)), 2, 99)
    assert counters.cluster_counters("v1", 2, ClusterReads()).size == 5
    assert counters.cluster_counters("v1", 0, ClusterReads()).size == 1


def test_popular_movies_most_favoured_first(counters, fake_redis):
    for movie, users in {1: 2, 2: 7, 3: 5}.items():  # in three partitions
        fake_redis.zadd(KEYS.popular(KEYS.partition_of(movie)), {movie: users})
    assert len({KEYS.partition_of(m) for m in (1, 2, 3)}) == 3
    assert counters.popular(2) == ((2, 7.0), (3, 5.0))
    assert counters.popular(10) == ((2, 7.0), (3, 5.0), (1, 2.0))
    assert counters.popular(0) == ()


def test_movie_stats_and_user_counts_from_applied_events(fake_redis):
    stores = stores_on(fake_redis, "t")
    stores.ratings.apply([
        Event("rating", 1, 10, 9, 100.0), Event("rating", 2, 10, 4, 100.0),
        Event("favourite", 3, 10, 0, 100.0), Event("rating", 1, 11, 6, 100.0)])
    counters = stores.counters
    stats = counters.movie_stats(10)
    assert stats == MovieStats(n_ratings=2, half_star_sum=13, n_favourites=2)
    assert stats.mean_rating == 3.25
    assert counters.movie_stats(99) == MovieStats(0, 0, 0)
    assert MovieStats(0, 0, 0).mean_rating is None


def test_last_events_newest_first_as_the_script_logs_them(fake_redis):
    stores = stores_on(fake_redis, "t")
    stores.ratings.apply([
        Event("rating", 1, 10, 9, 100.0), Event("favourite", 1, 11, 0, 101.0),
        Event("remove", 1, 10, 0, 102.0)])
    counters = stores.counters
    assert counters.last_events(1, 10) == [
        {"type": "remove", "movie_id": 10, "ts": 102},
        {"type": "favourite", "movie_id": 11, "ts": 101},
        {"type": "rating", "movie_id": 10, "ts": 100, "rating": 4.5}]
    assert len(counters.last_events(1, 2)) == 2 and counters.last_events(5, 10) == []


def one_sorted_set_order(client, limit):
    """The ``limit`` heads of the partitions' rankings as one sorted set holding them all
    ranks them: their union in a scratch key (of one slot), read by one ZREVRANGE."""
    scratch = "{t}:scratch:popular"
    client.zunionstore(scratch, [KEYS.popular(p) for p in range(KEYS.partitions)])
    try:
        rows = client.zrevrange(scratch, 0, limit - 1, withscores=True)
    finally:
        client.delete(scratch)
    return tuple((int(movie), score) for movie, score in rows)


def test_popular_orders_ties_over_the_partitions_as_one_sorted_set_would(client):
    # ids of one, two, three and ten digits, so that byte order and number order differ
    # (9 > 10 as bytes), many per partition, and few distinct scores: ties everywhere, and
    # within one partition and across partitions
    movies = [1, 2, 3, 9, 10, 11, 19, 20, 99, 100, 101, 123, 999, 1000, 2**31 - 1, 1_000_000_007,
              7, 70, 700, 8, 80, 800]
    favourites = {movie: float(1 + index % 3) for index, movie in enumerate(movies)}
    for movie, users in favourites.items():
        client.zadd(KEYS.popular(KEYS.partition_of(movie)), {movie: users})
    homes = {KEYS.partition_of(m) for m in movies}
    assert len(homes) >= 8
    assert any(sum(KEYS.partition_of(m) == p for m in movies) >= 3 for p in homes)
    counters = CounterStore(client, KEYS)
    # score descending, then the member's bytes descending: ZREVRANGE's order
    explicit = tuple(sorted(favourites.items(), key=lambda row: (row[1], str(row[0]).encode()),
                            reverse=True))
    assert explicit[3:5] == ((3, 3.0), (2**31 - 1, 3.0))  # not by number
    assert explicit[14:17] == ((999, 1.0), (9, 1.0), (800, 1.0))
    for limit in range(1, len(movies) + 3):
        assert counters.popular(limit) == explicit[:limit], limit
        assert counters.popular(limit) == one_sorted_set_order(client, limit), limit


def test_trending_counts_each_event_that_makes_a_rating_or_a_favourite_appear(client):
    stores = stores_on(client, "t")
    now = time.time()
    stores.ratings.apply([
        Event("rating", 1, 10, 8, now - 60),  # a rating (and a favourite) appears: 1
        Event("rating", 1, 10, 6, now - 50),  # rated again: nothing appears
        Event("favourite", 2, 10, 0, now - 40),  # a favourite appears: 1
        Event("rating", 2, 10, 9, now - 30),  # a rating appears: 1
        Event("unfavourite", 2, 10, 0, now - 20),  # nothing appears
        Event("favourite", 3, 11, 0, now - 3 * 86400),  # three days ago: the week's only
        Event("rating", 4, 12, 5, now - 30 * 86400),  # a month ago: no window's
        Event("rating", 1, 10, 8, now - 55),  # older than this user's entry: not applied
    ])
    counters = stores.counters
    assert counters.trending("24h", now, 10) == ((10, 3.0),)
    assert counters.trending("7d", now, 10) == ((10, 3.0), (11, 1.0))
    stores.ratings.apply([Event("rating", 1, 10, 8, now - 60, "e1")] * 2)  # (no change)
    assert counters.trending("24h", now, 10) == ((10, 3.0),)
    # each bucket expires once the longest window that reads it has passed it
    hour, day = int((now - 60) // 3600), int((now - 60) // 86400)
    for key, end in ((KEYS.trending(KEYS.partition_of(10), f"h{hour}"), (hour + 1) * 3600 + 86400),
                     (KEYS.trending(KEYS.partition_of(10), f"d{day}"),
                      (day + 1) * 86400 + 7 * 86400)):
        assert abs(client.ttl(key) - (end - now)) <= 2, key
    month_ago = int((now - 30 * 86400) // 3600)
    assert not client.exists(KEYS.trending(KEYS.partition_of(12), f"h{month_ago}"))


def test_a_trending_window_slides_over_its_oldest_bucket_by_its_share_inside():
    now = 100 * 3600 + 1800  # half past the 100th hour
    weights = trending_buckets("24h", now)
    assert weights.keys() == {f"h{h}" for h in range(76, 101)} and weights["h76"] == 0.5
    assert all(weights[f"h{h}"] == pytest.approx(1.0, abs=1e-7) for h in range(77, 101))
    week = trending_buckets("7d", 10 * 86400 + 21600)
    assert week.keys() == {f"d{d}" for d in range(3, 11)} and week["d3"] == 0.75
    assert all(week[f"d{d}"] == pytest.approx(1.0, abs=1e-7) for d in range(4, 11))
    assert sorted(weights, key=weights.get)[1:] == [f"h{h}" for h in range(77, 101)]


def test_trending_sums_the_buckets_of_every_partition_with_their_weights(client):
    now = 100 * 3600 + 1800
    counters = CounterStore(client, KEYS)
    for movie, bucket, events in ((5, "h76", 4), (6, "h100", 1), (7, "h75", 9), (8, "h90", 2),
                                  (8, "h91", 1), (9, "h80", 3)):
        client.zadd(KEYS.trending(KEYS.partition_of(movie), bucket), {movie: events})
    assert len({KEYS.partition_of(m) for m in (5, 6, 8, 9)}) >= 3
    # (ties: the later events first, so 8 before 9)
    assert counters.trending("24h", now, 10) == ((8, 3.0), (9, 3.0), (5, 2.0), (6, 1.0))
    assert counters.trending("24h", now, 3) == ((8, 3.0), (9, 3.0), (5, 2.0))
    for movie, bucket in ((100000, "h90"), (99999, "h90"), (11, "h99")):  # one event each
        client.zadd(KEYS.trending(KEYS.partition_of(movie), bucket), {movie: 1})
    ones = [movie for movie, events in counters.trending("24h", now, 10) if events == 1.0]
    assert ones == [6, 11, 99999, 100000]  # the later first; in one hour, by the id's digits
    assert not [key for key in client.keys() if key.endswith(b":trend:sum")]  # scratch dropped


def test_the_trending_cache_answers_at_once_and_reads_again_in_the_background(fake_redis):
    counters = CounterStore(fake_redis, KEYS)
    cache = TrendingCache(counters, check_every=0)
    reads = []
    real = counters.trending
    counters.trending = lambda *args: reads.append(args) or real(*args)
    assert cache.get("24h") == () and len(reads) == 1  # the first request waits for it
    hour = int(time.time() // 3600)
    fake_redis.zadd(KEYS.trending(KEYS.partition_of(5), f"h{hour}"), {5: 2})
    assert cache.get("24h") == ()  # the list it has, while it reads again
    deadline = time.monotonic() + 5
    while cache.get("24h") == () and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get("24h")[0] == (5, 2.0)
