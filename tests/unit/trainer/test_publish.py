"""Publishing under the trainer lock, pruning, and rolling back with rebuilt counters
(fakeredis runs the real scripts)."""
import dataclasses

import fakeredis
import pytest

from shared.data.events import Event
from shared.recsys.cluster_counters import PublishedCounters
from shared.recsys.ratings import rating_matrix
from shared.recsys.served import LiveModel
from shared.recsys.strategies import ClusterReads
from shared.store.counters import CounterStore
from shared.store.models import ModelStore
from shared.store.trainer_lock import LockHeld, TrainerLock
from tests.conftest import load_and_publish
from trainer.publish import activate_version, publish

SHRINK = 5.0  # what load_and_publish publishes with


@pytest.fixture
def world(tiny_data, tiny_bundle):
    client = fakeredis.FakeRedis()
    store = load_and_publish(client, "t", tiny_data, tiny_bundle)
    return store, ModelStore(client, store.keys)


def assert_counters_are_a_full_rebuild(store, version_bundle):
    """Every cluster's counters under the active version equal those computed from the
    ratings in the store now."""
    live = LiveModel(version_bundle)
    X, _, _ = rating_matrix(store.ratings_frame(), live.users, live.movies)
    offline = PublishedCounters(X, live.labels, live.baseline, live.movies.ids, shrink=SHRINK)
    counters = CounterStore(store.redis, store.keys)
    everything = ClusterReads(favourites=len(live.movies), means=len(live.movies))
    for cluster in range(len(offline.sizes)):
        got = counters.cluster_counters(live.version, cluster, everything)
        assert got == offline.cluster(cluster, everything), cluster


def test_publishing_flips_marks_and_prunes(world, tiny_bundle):
    store, models = world
    for n in range(2, 6):
        publish(dataclasses.replace(tiny_bundle, version=f"v{n}"), store, models, SHRINK,
                progress=False, keep=3)
    assert models.active_version() == "v5" and models.versions() == ["v3", "v4", "v5"]
    assert set(models.states().values()) == {"published"}
    assert models.building_version() is None and TrainerLock(store.redis, store.keys).holder() is None


def test_a_rollback_rebuilds_the_counters_from_the_ratings_of_now(world, tiny_bundle):
    store, models = world
    first = tiny_bundle.version
    publish(dataclasses.replace(tiny_bundle, version="v2"), store, models, SHRINK, progress=False)
    assert not store.redis.exists(store.keys.assignments(first))  # nothing kept them current
    users = sorted(store.iter_user_ids())[:20]
    store.apply([Event("rating", u, int(m), 10 - (i % 9), 9e9)
                 for i, (u, m) in enumerate(zip(users, LiveModel(tiny_bundle).movies.ids[:20]))])
    activate_version(first, store, models, progress=False)
    assert models.active_version() == first
    assert_counters_are_a_full_rebuild(store, tiny_bundle)
    assert not store.redis.exists(store.keys.assignments("v2"))


def test_nothing_is_published_while_another_trainer_holds_the_lock(world, tiny_bundle):
    store, models = world
    other = TrainerLock(store.redis, store.keys)
    assert other.acquire("another trainer")
    with pytest.raises(LockHeld, match="another trainer"):
        publish(dataclasses.replace(tiny_bundle, version="v2"), store, models, SHRINK,
                progress=False)
    assert models.active_version() == tiny_bundle.version and "v2" not in models.versions()
