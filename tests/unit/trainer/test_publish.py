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
from shared.store.trainer_lock import LockHeld, TrainerLock
from tests.conftest import load_and_publish, stores_on
from trainer.publish import activate_version, publish

SHRINK = 5.0  # what load_and_publish publishes with


@pytest.fixture
def world(tiny_data, tiny_bundle):
    return load_and_publish(fakeredis.FakeRedis(), "t", tiny_data, tiny_bundle)


def ratings_frame(store):
    """Every rating in the store now, as a ratings frame (favourites without a rating left out)."""
    live = store.snapshot()
    rated = live.loc[live["rating"] > 0, ["user_id", "movie_id", "rating", "ts"]]
    return rated.reset_index(drop=True)


def assert_counters_are_a_full_rebuild(stores, version_bundle):
    """Every cluster's counters under the active version equal those computed from the
    ratings in the store now."""
    live = LiveModel(version_bundle)
    X, _, _ = rating_matrix(ratings_frame(stores.ratings), live.users, live.movies)
    offline = PublishedCounters(X, live.labels, live.baseline, live.movies.ids, shrink=SHRINK)
    counters = stores.counters
    everything = ClusterReads(favourites=len(live.movies), means=len(live.movies))
    for cluster in range(len(offline.sizes)):
        got = counters.cluster_counters(live.version, cluster, everything)
        assert got == offline.cluster(cluster, everything), cluster


def test_publishing_flips_marks_and_prunes(world, tiny_bundle):
    stores = stores_on(world.redis, "t", keep_versions=3)
    models = stores.models
    for n in range(2, 6):
        publish(dataclasses.replace(tiny_bundle, version=f"v{n}"), stores, SHRINK, progress=False)
    assert models.active_version() == "v5" and models.versions() == ["v3", "v4", "v5"]
    assert set(models.states().values()) == {"published"}
    assert models.building_version() is None
    assert TrainerLock(stores.redis, stores.keys).holder() is None


def assignments_kept(stores, version):
    """How many partitions hold users' clusters under ``version``."""
    keys = stores.keys
    return stores.redis.exists(*(keys.assignments(version, p) for p in range(keys.partitions)))


def test_a_rollback_rebuilds_the_counters_from_the_ratings_of_now(world, tiny_bundle):
    store, models = world.ratings, world.models
    first = tiny_bundle.version
    assert assignments_kept(world, first) > 0
    publish(dataclasses.replace(tiny_bundle, version="v2"), world, SHRINK, progress=False)
    assert assignments_kept(world, first) == 0  # nothing kept them current
    users = sorted(store.iter_user_ids())[:20]
    store.apply([Event("rating", u, int(m), 10 - (i % 9), 9e9)
                 for i, (u, m) in enumerate(zip(users, LiveModel(tiny_bundle).movies.ids[:20]))])
    activate_version(first, world, progress=False)
    assert models.active_version() == first
    assert_counters_are_a_full_rebuild(world, tiny_bundle)
    assert assignments_kept(world, "v2") == 0


def test_nothing_is_published_while_another_trainer_holds_the_lock(world, tiny_bundle):
    models = world.models
    other = TrainerLock(world.redis, world.keys)
    assert other.acquire("another trainer")
    with pytest.raises(LockHeld, match="another trainer"):
        publish(dataclasses.replace(tiny_bundle, version="v2"), world, SHRINK, progress=False)
    assert models.active_version() == tiny_bundle.version and "v2" not in models.versions()


def test_without_a_lock_given_it_is_taken_with_the_configured_expiry(world, tiny_bundle,
                                                                     monkeypatch):
    seconds = 600  # far from TrainerLock's default, so that a lock taken with that one shows
    assert seconds != TrainerLock(world.redis, world.keys).ttl
    stores = stores_on(world.redis, "t", trainer_lock_seconds=seconds)
    ttls = []  # (version, the lock's expiry in ms) as each batch of users is assigned
    assign = stores.ratings.assign

    def assign_looking_at_the_lock(version, assignments):
        ttls.append((version, stores.redis.pttl(stores.keys.trainer_lock)))
        return assign(version, assignments)

    monkeypatch.setattr(stores.ratings, "assign", assign_looking_at_the_lock)
    publish(dataclasses.replace(tiny_bundle, version="v2"), stores, SHRINK, progress=False)
    activate_version(tiny_bundle.version, stores, progress=False)
    assert stores.models.active_version() == tiny_bundle.version
    assert {version for version, _ in ttls} == {"v2", tiny_bundle.version}
    assert all((seconds - 60) * 1000 < ttl <= seconds * 1000 for _, ttl in ttls), ttls


def test_a_rollback_serves_before_it_rebuilds_the_counters(world, tiny_bundle, monkeypatch):
    models, first = world.models, tiny_bundle.version
    publish(dataclasses.replace(tiny_bundle, version="v2"), world, SHRINK, progress=False)
    seen = []  # (active, rebuilding) as each batch of users is placed
    assign = world.ratings.assign

    def assign_looking_at_the_pointers(version, assignments):
        seen.append((models.active_version(), models.rebuilding_version()))
        return assign(version, assignments)

    monkeypatch.setattr(world.ratings, "assign", assign_looking_at_the_pointers)
    stages = []
    activate_version(first, world, progress=False, report=stages.append)
    assert seen and set(seen) == {(first, first)}
    assert stages == ["serving; rebuilding the counters"]
    assert models.active_version() == first and models.rebuilding_version() is None
    assert_counters_are_a_full_rebuild(world, tiny_bundle)


def test_a_rollback_flips_before_it_loads_anything_of_the_version(world, tiny_bundle,
                                                                   monkeypatch):
    """Only the manifest is read before the flip; the arrays (the priors, the classifier)
    are loaded after, and a rollback that dies there leaves the version serving, to be
    finished by activating it again."""
    models, first = world.models, tiny_bundle.version
    publish(dataclasses.replace(tiny_bundle, version="v2"), world, SHRINK, progress=False)
    load, active_at_load = models.load, []

    def load_and_die(version, components=None):
        active_at_load.append(models.active_version())
        raise KeyboardInterrupt  # a stop request as the arrays load

    monkeypatch.setattr(models, "load", load_and_die)
    with pytest.raises(KeyboardInterrupt):
        activate_version(first, world, progress=False)
    assert active_at_load == [first] and models.rebuilding_version() == first
    monkeypatch.setattr(models, "load", load)
    activate_version(first, world, progress=False)
    assert models.rebuilding_version() is None
    assert_counters_are_a_full_rebuild(world, tiny_bundle)


def test_activating_again_finishes_a_rebuild_a_dead_rollback_left(world, tiny_bundle,
                                                                  monkeypatch):
    models, first = world.models, tiny_bundle.version
    publish(dataclasses.replace(tiny_bundle, version="v2"), world, SHRINK, progress=False)
    monkeypatch.setattr("trainer.publish.ASSIGN_BATCH", 3)
    assign, calls = world.ratings.assign, []

    def assign_then_die(version, assignments):
        calls.append(version)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a stop request after the first batch
        return assign(version, assignments)

    monkeypatch.setattr(world.ratings, "assign", assign_then_die)
    with pytest.raises(KeyboardInterrupt):
        activate_version(first, world, progress=False)
    assert models.active_version() == first and models.rebuilding_version() == first
    assert TrainerLock(world.redis, world.keys).holder() is None
    monkeypatch.setattr(world.ratings, "assign", assign)
    activate_version(first, world, progress=False)
    assert models.rebuilding_version() is None
    assert_counters_are_a_full_rebuild(world, tiny_bundle)
    activate_version(first, world, progress=False)  # whole: nothing to do, no lock taken
    other = TrainerLock(world.redis, world.keys)
    assert other.acquire("another trainer")
    activate_version(first, world, progress=False)


def test_a_rebuild_mark_of_a_version_no_longer_active_names_nothing(world, tiny_bundle):
    models = world.models
    models.mark_rebuilding(tiny_bundle.version)
    assert models.rebuilding_version() == tiny_bundle.version
    publish(dataclasses.replace(tiny_bundle, version="v2"), world, SHRINK, progress=False)
    assert models.rebuilding_version() is None
