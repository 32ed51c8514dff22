"""The drain job on fakeredis (it runs the real scripts): a round applies a batch of each of its
lane's partitions, poison items go to the dead letters while the rest (of their partition and
of the others) flows on, a replay applies them once the cause is fixed, and a lane's claim is
handed over, released and taken again without leaving events behind."""
import itertools
import time
from types import SimpleNamespace

import pytest
from rq import SimpleWorker

from shared.data.events import Event
from shared.store.inbox import ApplyResult, BatchFailed, Inbox
from shared.store.keys import Keys
from shared.store.queue import enqueue_drain
from tests.conftest import stores_on
from worker import jobs

KEYS = Keys("p")  # the partitions Stores gives a new store (the default, 16)


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


def drain(queue, lane=0):
    job = enqueue_drain(queue, lane)
    SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=True)
    job.refresh()
    assert job.get_status() == "finished", job.latest_result().exc_string
    return job.return_value()


def users_in(partition, count, start=1):
    """``count`` user ids (from ``start`` up) whose data lives in ``partition``."""
    return list(itertools.islice(
        (user for user in itertools.count(start) if KEYS.partition_of(user) == partition), count))


@pytest.fixture
def rounds(monkeypatch):
    """Every call of Inbox.drain as (batches, results), and ``after``: a function the test may
    set, called with the number of the round just made (from 1) after each round of a whole
    lane (not the one-partition calls of a narrowing down)."""
    calls = SimpleNamespace(all=[], after=None)
    real = Inbox.drain

    def spy(self, batches, *args, **kwargs):
        results = real(self, batches, *args, **kwargs)
        calls.all.append((dict(batches), results))
        if calls.after is not None and len(batches) > 1:
            calls.after(sum(len(b) > 1 for b, _ in calls.all))
        return results

    monkeypatch.setattr(Inbox, "drain", spy)
    return calls


def lane_rounds(rounds):
    """The results of the rounds that took a batch of every partition of the lane."""
    return [results for batches, results in rounds.all if len(batches) > 1]


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


def test_two_partitions_events_are_drained_in_the_same_round(world, rounds):
    stores, queue = world
    first, second = 0, 5
    a, b = users_in(first, 3), users_in(second, 4)
    assert stores.inbox.push([Event("rating", user, 10, 8, 100.0) for user in a + b]) == [0]
    totals = drain(queue)
    assert totals["applied"] == 7 and stores.inbox.length() == 0
    batches, results = rounds.all[0]
    assert set(batches) == set(range(KEYS.partitions))  # the one lane holds every partition
    assert isinstance(results[first], ApplyResult) and results[first].applied == 3
    assert isinstance(results[second], ApplyResult) and results[second].applied == 4
    assert all(stores.ratings.user_ratings(user) for user in a + b)


def test_a_poison_item_in_one_partition_does_not_hold_up_another_partitions_events(world,
                                                                                  rounds):
    stores, queue = world
    store, inbox = stores.ratings, stores.inbox
    poisoned = KEYS.partition_of(13)
    other = (poisoned + 1) % KEYS.partitions
    behind = users_in(poisoned, 4, start=14)  # after user 13 in its partition's inbox
    first, later = users_in(other, 5), users_in(other, 3, start=100_000)
    inbox.push([Event("rating", user, 10, 8, 100.0) for user in [13, *behind, *first]])
    store.redis.set(KEYS.user(13), "not a hash")  # the script fails on user 13's event
    pushed, seen = [], []

    def after(round_number):
        seen.append((round_number, inbox.dead_letter_count(),
                     all(store.user_ratings(user) for user in first)))
        if round_number == 1:  # more events come for the other partition meanwhile
            pushed.append(inbox.push([Event("rating", user, 10, 8, 100.0) for user in later]))

    rounds.after = after
    totals = drain(queue)
    # the first two rounds: the poisoned partition's batch failed, the other's was applied
    one, two = lane_rounds(rounds)[:2]
    assert isinstance(one[poisoned], BatchFailed) and isinstance(two[poisoned], BatchFailed)
    assert "WRONGTYPE" in str(one[poisoned])
    assert isinstance(one[other], ApplyResult) and one[other].applied == len(first)
    assert isinstance(two[other], ApplyResult) and two[other].applied == len(later)
    assert seen[0] == (1, 0, True)  # applied before the poison item was set aside
    assert pushed == [[]]  # the drain held the lane: no second job
    assert totals["dead_lettered"] == 1
    assert totals["applied"] + totals["skipped"] == len(behind) + len(first) + len(later)
    assert all(store.user_ratings(user) for user in [*behind, *first, *later])
    [letter] = inbox.dead_letters()
    assert len(letter["items"]) == 1 and '"13"' in letter["items"][0]
    assert inbox.length() == 0 and queue.count == 0


def test_a_sweep_queues_a_drain_only_for_an_inbox_nobody_drains(world):
    stores, queue = world
    inbox = stores.inbox
    assert jobs.sweep_inbox(stores) == []  # nothing waits
    # the push claimed lane 0 (the only one): a drain is on its way
    assert inbox.push([Event("rating", 1, 10, 8, 100.0)]) == [0]
    assert jobs.sweep_inbox(stores) == []
    stores.redis.delete(KEYS.inbox_draining(0))  # that drain died and its claim lapsed
    assert jobs.sweep_inbox(stores) == [0] and queue.count == 1
    assert queue.jobs[0].kwargs == {"lane": 0}
    assert jobs.sweep_inbox(stores) == []  # claimed again: one drain, not one per sweep


def test_a_sweep_queues_a_drain_for_each_lane_nobody_drains(fake_redis):
    stores = stores_on(fake_redis, "p", drain_lanes=4)
    queue, inbox = stores.events_queue, stores.inbox
    assert inbox.partitions(1) == [1, 5, 9, 13]
    # events in partitions of lanes 1 and 3: both claimed by the push
    users = users_in(1, 1) + users_in(7, 1)
    assert inbox.push([Event("rating", user, 10, 8, 100.0) for user in users]) == [1, 3]
    assert jobs.sweep_inbox(stores) == []
    stores.redis.delete(KEYS.inbox_draining(3))  # lane 3's drain died
    assert jobs.sweep_inbox(stores) == [3] and queue.count == 1
    assert queue.jobs[0].kwargs == {"lane": 3}
    assert jobs.sweep_inbox(stores) == []


def test_a_drain_applies_the_partitions_of_its_lane_only(fake_redis, monkeypatch):
    monkeypatch.setenv("MOVIEREC_PREFIX", "p")
    monkeypatch.setenv("MOVIEREC_QUEUE", "p")
    monkeypatch.setenv("MOVIEREC_DRAIN_LANES", "2")
    monkeypatch.setattr(jobs, "_contexts", {})
    stores = stores_on(fake_redis, "p", drain_lanes=2)
    queue, inbox = stores.events_queue, stores.inbox
    even, odd = users_in(2, 3), users_in(3, 2)
    assert inbox.push([Event("rating", user, 10, 8, 100.0) for user in even + odd]) == [0, 1]
    assert drain(queue, lane=1)["applied"] == 2
    assert all(stores.ratings.user_ratings(user) for user in odd)
    assert not any(stores.ratings.user_ratings(user) for user in even)
    assert inbox.length() == 3
    assert not fake_redis.exists(KEYS.inbox_draining(1))  # lane 1 released
    assert fake_redis.exists(KEYS.inbox_draining(0))  # lane 0 still claimed by the push
    assert drain(queue, lane=0)["applied"] == 3 and inbox.length() == 0


def test_events_pushed_while_a_drain_lingers_are_drained_when_it_releases(world, monkeypatch):
    stores, queue = world
    inbox = stores.inbox
    early, late = users_in(2, 1)[0], users_in(11, 1)[0]
    assert inbox.push([Event("rating", early, 10, 8, 100.0)]) == [0]
    pushed, released = [], []
    real = Inbox.release_drain

    def release_drain(self, lane):
        if not pushed:  # a push lands after the drain's last round, before it lets go
            pushed.append(inbox.push([Event("rating", late, 10, 8, 100.0)]))
        released.append(real(self, lane))
        return released[-1]

    monkeypatch.setattr(Inbox, "release_drain", release_drain)
    totals = drain(queue)
    assert pushed == [[]]  # the lane was still claimed: the push enqueued no drain
    # the release found the event and took the lane again, then let go once it was drained
    assert released == [False, True]
    assert totals["applied"] == 2
    assert stores.ratings.user_ratings(late) == {10: (4.0, True, 100.0)}
    assert inbox.length() == 0 and queue.count == 0
    assert not stores.redis.exists(KEYS.inbox_draining(0))


def test_a_drain_hands_the_inbox_over_between_batches_when_its_worker_stops(world, monkeypatch):
    stores, queue = world
    store, inbox = stores.ratings, stores.inbox
    monkeypatch.setattr(jobs, "current_context", lambda: jobs.Context.on(
        stores.redis, stores.settings))
    # two partitions: 2.5 and 1.5 batches (a round takes a batch of each partition)
    most = jobs.batch_per_partition(KEYS.partitions)
    many, fewer = users_in(4, 2 * most + most // 2), users_in(9, most + most // 2)
    inbox.push([Event("rating", user, 10, 8, 100.0) for user in many + fewer])
    asked = []
    monkeypatch.setattr(jobs, "stop_requested", lambda: asked.append(1) or len(asked) >= 2)
    totals = jobs.drain_events()
    # two whole rounds applied (a batch of each partition each) and the rest left to the
    # drain it queued, which the next worker runs; the claim is still held, so no sweep
    # queues a second one meanwhile
    assert totals["applied"] == 3 * most + most // 2 and inbox.length() == most // 2
    assert stores.redis.llen(KEYS.inbox(4)) == most // 2 and stores.redis.llen(KEYS.inbox(9)) == 0
    assert queue.count == 1 and queue.jobs[0].kwargs == {"lane": 0}
    assert inbox.claim_drain(0) is False
    monkeypatch.setattr(jobs, "stop_requested", lambda: False)
    assert jobs.drain_events()["applied"] == most // 2
    assert inbox.length() == 0 and store.events_applied() == len(many) + len(fewer)


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
    placed = {int(u): int(c) for p in range(KEYS.partitions) for u, c in
              stores.redis.hgetall(KEYS.assignments(tiny_bundle.version, p)).items()}
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
    assert stores.redis.hdel(KEYS.assignments(version, KEYS.partition_of(user)), user) == 1
    stores.inbox.push([Event("rating", user, int(movies[300]), 8, 200.0)])
    drain(queue)
    assert placements[-1] == 21
    assert stores.counters.cluster_of(version, user) == classifier(
        stores.ratings.live_ratings(user))
