"""Reads of the live counters (fakeredis)."""
import pytest

from shared.data.events import Event
from shared.recsys.strategies import ClusterCounters, ClusterReads
from shared.store.counters import CounterStore, MovieStats
from shared.store.keys import Keys
from tests.conftest import stores_on

KEYS = Keys("t")


@pytest.fixture
def counters(fake_redis):
    for user, cluster in {7: 2, 8: 0}.items():  # users of two partitions
        fake_redis.hset(KEYS.assignments("v1", KEYS.partition_of(user)), user, cluster)
    fake_redis.hset(KEYS.cluster_sizes("v1"), mapping={2: 5, 0: 1})
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


def test_popular_movies_most_favoured_first(counters, fake_redis):
    fake_redis.zadd(KEYS.popular, {1: 2, 2: 7, 3: 5})
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
