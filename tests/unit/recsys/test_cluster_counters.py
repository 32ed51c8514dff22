"""The counters computed from the training data equal what the Lua script keeps in Redis once
the same ratings are imported and the version is published (fakeredis runs the real script)."""
import numpy as np
import pytest
import scipy.sparse as sp

from shared.data.movielens import load_ratings
from shared.recsys import strategies
from shared.recsys.cluster_counters import PublishedCounters
from shared.recsys.ratings import rating_matrix
from shared.recsys.served import LiveModel
from shared.recsys.strategies import ClusterReads
from tests.conftest import load_and_publish

SHRINK = 5.0  # what load_and_publish publishes with
NEW_USER = 10_000_001


@pytest.fixture(scope="module")
def published(tiny_data, tiny_bundle):
    """The store after import and publish, and the same counters computed offline."""
    import fakeredis

    client = fakeredis.FakeRedis()
    stores = load_and_publish(client, "t", tiny_data, tiny_bundle)
    live = LiveModel(tiny_bundle)
    X, _, _ = rating_matrix(load_ratings(tiny_data), live.users, live.movies)
    offline = PublishedCounters(X, live.labels, live.baseline, live.movies.ids, shrink=SHRINK)
    return stores.ratings, stores.counters, live, offline


def test_every_cluster_reads_the_same_as_from_redis(published):
    store, counters, live, offline = published
    everything = ClusterReads(favourites=len(live.movies), means=len(live.movies))
    clusters = sorted(int(c) for p in range(store.keys.partitions)
                      for c in store.redis.hkeys(store.keys.cluster_sizes(live.version, p)))
    assert clusters == list(range(len(offline.sizes)))
    for cluster in clusters:
        expected = counters.cluster_counters(live.version, cluster, everything)
        got = offline.cluster(cluster, everything)
        assert got.size == expected.size > 0
        assert got.favourites == expected.favourites  # same counts, same order of ties
        assert got.means == expected.means            # same shrunk means, counts and order
    ties = [s for _, s in expected.favourites]
    assert len(ties) > len(set(ties)), "no tied counts: the tie order is not tested"


def test_heads_of_the_ranked_counters_and_the_popular_list(published):
    _, counters, live, offline = published
    for reads in (ClusterReads(favourites=7), ClusterReads(means=12), ClusterReads(3, 5)):
        assert offline.cluster(0, reads) == counters.cluster_counters(live.version, 0, reads)
    limit = len(live.movies) + 5
    assert offline.popular(limit) == counters.popular(limit)
    assert offline.popular(10) == counters.popular(10)
    assert offline.popular(0) == ()


def test_a_new_user_joining_a_cluster_moves_its_counters_as_the_script_does(published):
    store, counters, live, offline = published
    movies = live.movies.ids
    rated = {int(movies[i]): r
             for i, r in zip([0, 3, 5, 8, 13, 21], [5.0, 4.0, 3.5, 1.0, 4.5, 2.0])}
    store.apply_wire([["rating", str(NEW_USER), str(m), int(r * 2), 1.0 + i, ""]
                      for i, (m, r) in enumerate(rated.items())], log=False)
    cluster = live.assign_cluster(store.live_ratings(NEW_USER))
    assert store.assign(live.version, {NEW_USER: cluster}) == 1
    everything = ClusterReads(favourites=len(movies), means=len(movies))
    try:
        expected = counters.cluster_counters(live.version, cluster, everything)
        got = offline.cluster(cluster, everything, joining=live.user_row(rated))
        assert got == expected
        assert got.size == offline.sizes[cluster] + 1
        # the cluster as published is unchanged offline: joining is per user
        assert offline.cluster(cluster, everything).size == offline.sizes[cluster]
    finally:
        store.delete_user(NEW_USER)


@pytest.mark.parametrize("strategy", strategies.STRATEGIES)
def test_strategies_get_the_lists_the_api_computes(published, strategy):
    """What ``api.recommendations.recommend`` reads from the stores, read offline instead."""
    store, counters, live, offline = published
    for user in sorted(store.iter_user_ids())[:5]:
        ratings = store.live_ratings(user)
        cluster = counters.cluster_of(live.version, user)
        assert cluster == live.training_cluster(user)
        serving = strategies.serving_strategy(live, ratings, strategy)
        reads = strategies.cluster_reads(serving, 10, len(ratings))
        api = strategies.serve(live, ratings,
                               counters.cluster_counters(live.version, cluster, reads),
                               (), 10, serving)
        row = live.user_row(ratings)
        offline_ratings = dict(zip(live.movies.ids[row.indices].tolist(), row.data.tolist()))
        assert offline_ratings == ratings
        ours = strategies.serve(live, offline_ratings, offline.cluster(cluster, reads), (), 10,
                                serving)
        assert ours == api


def test_favourites_default_to_ratings_of_four_or_more_and_may_be_given():
    class Baseline:
        global_mean_ = 3.0
        item_bias_ = np.array([0.5, -0.5, 0.0])

    X = sp.csr_matrix(np.array([[4.0, 3.5, 0.0], [5.0, 0.0, 2.0], [0.0, 4.5, 1.0]]))
    labels = np.array([0, 0, 1])
    counters = PublishedCounters(X, labels, Baseline(), [10, 20, 30], shrink=2.0)
    assert counters.sizes.tolist() == [2, 1]
    assert counters.favourites.tolist() == [[2, 0, 0], [0, 1, 0]]
    assert counters.popularity.tolist() == [2, 1, 0]
    # cluster 0, movie 10: ratings 4 and 5 (18 half stars), prior 3.5 -> (18/2 + 2 * 3.5) / (2 + 2)
    means = counters.cluster(0, ClusterReads(means=5)).means
    assert means[0] == (10, 4.0, 2)
    assert [m for m, _, _ in means] == [10, 20, 30]  # 4.0, (3.5 + 2 * 2.5) / 3, (2 + 2 * 3) / 3
    given = PublishedCounters(X, labels, Baseline(), [10, 20, 30], shrink=2.0,
                              favourites=sp.csr_matrix(np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0]])))
    assert given.popular(5) == ((30, 1.0), (20, 1.0))  # ties: the larger id as text first
