"""The drain job on fakeredis (it runs the real scripts): poison items go to the dead letters,
the rest flows on, and a replay applies them once the cause is fixed."""
import time
from types import SimpleNamespace

import pytest
from rq import SimpleWorker

from shared.data.events import Event
from shared.store.keys import Keys
from shared.store.queue import enqueue_drain
from tests.conftest import stores_on
from worker import jobs

KEYS = Keys("p")


@pytest.fixture
def world(fake_redis, monkeypatch):
    monkeypatch.setenv("MOVIEREC_PREFIX", "p")
    monkeypatch.setenv("MOVIEREC_QUEUE", "p")
    monkeypatch.setattr(jobs, "_contexts", {})
    # no pauses between attempts, in this module only (not time.sleep for every thread)
    monkeypatch.setattr(jobs, "time", SimpleNamespace(
        sleep=lambda seconds: None, monotonic=time.monotonic, perf_counter=time.perf_counter,
        time=time.time))
    stores = stores_on(fake_redis, "p")
    return stores, stores.events_queue


def drain(queue):
    job = enqueue_drain(queue)
    SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=True)
    job.refresh()
    assert job.get_status() == "finished", job.latest_result().exc_string
    return job.return_value()


def test_a_poison_item_goes_to_the_dead_letters_and_the_rest_flows_on(world):
    stores, queue = world
    store, inbox = stores.ratings, stores.inbox
    inbox.push([Event("rating", user, 10, 8, 100.0) for user in range(1, 31)])
    store.redis.set(KEYS.user(13), "not a hash")  # the script fails on user 13's event
    totals = drain(queue)
    # a failed script call keeps what it applied before failing (Redis does not roll back), so
    # some events come round again as no change: applied once all the same
    assert totals["applied"] + totals["skipped"] == 29 and totals["dead_lettered"] == 1
    assert all(store.user_ratings(u) for u in range(1, 31) if u != 13)
    [letter] = inbox.dead_letters()
    assert "WRONGTYPE" in letter["error"] and letter["attempts"] == jobs.POISON_ATTEMPTS
    assert len(letter["items"]) == 1 and '"13"' in letter["items"][0]
    assert inbox.length() == 0

    store.redis.delete(KEYS.user(13))  # the operator fixes the cause
    assert inbox.replay_dead_letters([letter["id"]]) == 1
    assert drain(queue)["applied"] == 1
    assert store.user_ratings(13) == {10: (4.0, True, 100.0)} and inbox.dead_letters() == []
    with pytest.raises(KeyError, match="no dead letter nope"):
        inbox.replay_dead_letters(["nope"])


def test_a_sweep_queues_a_drain_only_for_an_inbox_nobody_drains(world):
    stores, queue = world
    inbox = stores.inbox
    assert jobs.sweep_inbox(stores) is False  # nothing waits
    inbox.push([Event("rating", 1, 10, 8, 100.0)])  # the push claimed it: a drain is on its way
    assert jobs.sweep_inbox(stores) is False
    stores.redis.delete(KEYS.inbox_draining)  # that drain died and its claim lapsed
    assert jobs.sweep_inbox(stores) is True and queue.count == 1
    assert jobs.sweep_inbox(stores) is False  # claimed again: one drain, not one per sweep


def test_a_drain_hands_the_inbox_over_between_batches_when_its_worker_stops(world, monkeypatch):
    stores, queue = world
    store, inbox = stores.ratings, stores.inbox
    monkeypatch.setattr(jobs, "current_context", lambda: jobs.Context.on(
        stores.redis, stores.settings))
    inbox.push([Event("rating", user, 10, 8, 100.0) for user in range(1, 2501)])
    asked = []
    monkeypatch.setattr(jobs, "stop_requested", lambda: asked.append(1) or len(asked) >= 2)
    totals = jobs.drain_events()
    # two whole batches applied and the rest left to the drain it queued, which the next
    # worker runs; the claim is still held, so no sweep queues a second one meanwhile
    assert totals["applied"] == 2 * jobs.DRAIN_BATCH and inbox.length() == 500
    assert queue.count == 1 and inbox.claim_drain() is False
    monkeypatch.setattr(jobs, "stop_requested", lambda: False)
    assert jobs.drain_events()["applied"] == 500
    assert inbox.length() == 0 and store.events_applied() == 2500


def test_new_users_are_placed_by_the_classifier_once_they_have_enough_ratings(
        world, tiny_data, tiny_bundle):
    from shared.recsys.served import LiveModel
    from tests.conftest import load_and_publish

    stores, queue = world
    load_and_publish(stores.redis, "p", tiny_data, tiny_bundle)
    model = LiveModel(tiny_bundle)
    movies = model.movies.ids
    known = int(model.users.ids[0])
    ratings = {9_000_001: 7, 9_000_002: 5, 9_000_003: 4, 9_000_004: 30}  # new user: how many
    stores.inbox.push([Event("rating", user, int(movies[i * 3 + user % 7]), 2 + i % 9, 100.0 + i)
                       for user, count in ratings.items() for i in range(count)]
                      + [Event("rating", known, int(movies[-1]), 9, 100.0)])
    totals = drain(queue)
    placed = {int(u): int(c) for u, c in
              stores.redis.hgetall(KEYS.assignments(tiny_bundle.version)).items()}
    # the three with 5 ratings or more, by the classifier on their ratings (user 9,000,003 has
    # 4: not yet); the known user keeps the cluster of the training
    assert totals["users_classified"] == totals["users_assigned"] == 3
    for user in (9_000_001, 9_000_002, 9_000_004):
        assert placed[user] == model.assign_cluster(stores.ratings.live_ratings(user))
    assert 9_000_003 not in placed and placed[known] == model.training_cluster(known)


@pytest.mark.parametrize("growth, placed_at", [("2", [5, 10, 20]), ("1", list(range(5, 21)))])
def test_a_new_user_is_placed_at_five_ratings_then_as_the_policy_says(
        world, tiny_data, tiny_bundle, monkeypatch, growth, placed_at):
    from shared.recsys.served import LiveModel
    from tests.conftest import load_and_publish

    stores, queue = world
    monkeypatch.setenv("MOVIEREC_PLACEMENT_GROWTH", growth)
    load_and_publish(stores.redis, "p", tiny_data, tiny_bundle)
    model, version = LiveModel(tiny_bundle), tiny_bundle.version
    placements = []  # how many ratings each of the worker's placements was made from
    real = LiveModel.assign_clusters
    monkeypatch.setattr(LiveModel, "assign_clusters", lambda self, rows: (
        placements.extend(len(r) for r in rows), real(self, rows))[1])

    def classifier(ratings):
        return int(real(model, [ratings])[0])

    user, movies = 9_000_001, model.movies.ids
    for i in range(20):
        stores.inbox.push([Event("rating", user, int(movies[i * 7]), 2 + i % 9, 100.0 + i)])
        drain(queue)
        cluster = stores.counters.cluster_of(version, user)
        if i + 1 < 5:
            assert cluster is None
        elif i + 1 == 5:  # the moment a new user gets a cluster: as fresh as on every change
            ratings = stores.ratings.live_ratings(user)
            assert cluster == classifier(ratings)
            counts = stores.redis.hgetall(KEYS.cluster_counts(version, cluster))
            assert all(int(counts[str(m).encode()]) >= 1 for m in ratings.movie_ids)
    assert placements == placed_at
    assert stores.counters.cluster_of(version, user) == classifier(
        stores.ratings.live_ratings(user))  # placed from all 20 either way

    # a worker died between applying a batch and placing its users: the next change places them
    stores.redis.hdel(KEYS.assignments(version), user)
    stores.inbox.push([Event("rating", user, int(movies[300]), 8, 200.0)])
    drain(queue)
    assert placements[-1] == 21
    assert stores.counters.cluster_of(version, user) == classifier(
        stores.ratings.live_ratings(user))
