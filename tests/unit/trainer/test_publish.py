"""Publishing under the trainer lock, pruning, and rolling back with rebuilt counters
(fakeredis runs the real scripts)."""
import dataclasses
import time

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
    seed = stores.ratings.seed

    def seed_looking_at_the_lock(version, assignments):
        ttls.append((version, stores.redis.pttl(stores.keys.trainer_lock)))
        return seed(version, assignments)

    monkeypatch.setattr(stores.ratings, "seed", seed_looking_at_the_lock)
    publish(dataclasses.replace(tiny_bundle, version="v2"), stores, SHRINK, progress=False)
    activate_version(tiny_bundle.version, stores, progress=False)
    assert stores.models.active_version() == tiny_bundle.version
    assert {version for version, _ in ttls} == {"v2", tiny_bundle.version}
    assert all((seconds - 60) * 1000 < ttl <= seconds * 1000 for _, ttl in ttls), ttls


def test_a_rollback_serves_before_it_rebuilds_the_counters(world, tiny_bundle, monkeypatch):
    models, first = world.models, tiny_bundle.version
    publish(dataclasses.replace(tiny_bundle, version="v2"), world, SHRINK, progress=False)
    seen = []  # (active, rebuilding) as each batch of users is placed
    seed = world.ratings.seed

    def seed_looking_at_the_pointers(version, assignments):
        seen.append((models.active_version(), models.rebuilding_version()))
        return seed(version, assignments)

    monkeypatch.setattr(world.ratings, "seed", seed_looking_at_the_pointers)
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
    seed, calls = world.ratings.seed, []

    def seed_then_die(version, assignments):
        calls.append(version)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a stop request after the first batch
        return seed(version, assignments)

    monkeypatch.setattr(world.ratings, "seed", seed_then_die)
    with pytest.raises(KeyboardInterrupt):
        activate_version(first, world, progress=False)
    assert models.active_version() == first and models.rebuilding_version() == first
    assert TrainerLock(world.redis, world.keys).holder() is None
    monkeypatch.setattr(world.ratings, "seed", seed)
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


@pytest.mark.parametrize("rollback", [False, True])
def test_events_applied_while_the_counters_are_seeded_count_once(world, tiny_bundle,
                                                                  monkeypatch, rollback):
    """Users placed before an event and users placed after it: the seeded totals and the
    events' deltas add up to the counters a rebuild from the ratings now gives."""
    models, first = world.models, tiny_bundle.version
    if rollback:
        publish(dataclasses.replace(tiny_bundle, version="v2"), world, SHRINK, progress=False)
    version = first if rollback else "v3"
    monkeypatch.setattr("trainer.publish.ASSIGN_BATCH", 40)
    seed, placed = world.ratings.seed, []
    modelled = LiveModel(tiny_bundle).movies.ids.tolist()

    def seed_with_events_between(version, assignments):
        if placed:  # one user placed already, one not yet: a new rating and a changed one each
            waiting = next(u for u in world.ratings.iter_user_ids() if u not in placed)
            for user in (placed[0], waiting):
                rated = world.ratings.user_ratings(user)
                unrated = next(m for m in modelled if m not in rated)
                world.ratings.apply([Event("rating", user, min(rated), 1, 2e9),
                                     Event("rating", user, unrated, 10, 2e9)])
        seeded = seed(version, assignments)
        placed.extend(seeded.users.tolist())
        return seeded

    monkeypatch.setattr(world.ratings, "seed", seed_with_events_between)
    if rollback:
        activate_version(first, world, progress=False)
    else:
        publish(dataclasses.replace(tiny_bundle, version=version), world, SHRINK,
                progress=False)
    assert models.active_version() == version and len(placed) == 150
    assert_counters_are_a_full_rebuild(world, dataclasses.replace(tiny_bundle, version=version))


def test_a_rollback_rebuilds_after_a_head_start_for_the_serving_processes(world, tiny_bundle,
                                                                           monkeypatch):
    stores = stores_on(world.redis, "t", rebuild_head_start=0.3)
    models, first = stores.models, tiny_bundle.version
    publish(dataclasses.replace(tiny_bundle, version="v2"), stores, SHRINK, progress=False)
    load, loads = models.load, []

    def timed_load(version, components=None, deferred=()):
        loads.append((models.active_version(), time.monotonic()))
        return load(version, components, deferred)

    monkeypatch.setattr(models, "load", timed_load)
    started = time.monotonic()
    activate_version(first, stores, progress=False)
    assert loads[0][0] == first and loads[0][1] - started >= 0.3
