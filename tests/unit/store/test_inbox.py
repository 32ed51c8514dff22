"""The inbox's semantics, on fakeredis and on a real Redis (same assertions)."""
import json

import pytest

from shared.data.events import Event
from shared.store.keys import Keys
from tests.conftest import stores_on

KEYS = Keys("t")
P1, P2 = KEYS.partition_of(1), KEYS.partition_of(2)


@pytest.fixture
def stores(client):
    return stores_on(client, "t")


def rating(user, movie, stars, ts, event_id=""):
    return Event("rating", user, movie, int(stars * 2), float(ts), event_id)


def test_push_claims_one_drain_for_many_requests_and_drain_applies_in_order(stores):
    inbox, store = stores.inbox, stores.ratings
    assert stores.keys.partitions == KEYS.partitions and P1 != P2
    assert inbox.push([rating(1, 10, 2.0, 100)]) == [0]   # first: enqueue a drain job (lane 0)
    assert inbox.push([rating(1, 10, 4.0, 200), rating(1, 11, 1.0, 100),
                       rating(2, 10, 1.0, 100)]) == []
    assert inbox.length() == 4
    assert stores.redis.llen(KEYS.inbox(P1)) == 3 and stores.redis.llen(KEYS.inbox(P2)) == 1
    first = inbox.drain({P1: 2, P2: 2})
    assert (first[P1].applied, first[P1].skipped, first[P1].left) == (2, 0, 1)
    assert (first[P2].applied, first[P2].left, first[P2].changed) == (1, 0, {2: (0, 1)})
    assert store.user_ratings(1) == {10: (4.0, True, 200.0)}  # in order: 2.0, then 4.0
    assert stores.counters.movie_stats(10).n_ratings == 2     # the counters are current
    assert stores.redis.exists(KEYS.inbox_draining(0))        # still claimed: events left
    last = inbox.drain({P1: 2})
    assert (last[P1].applied, last[P1].left, last[P1].changed) == (1, 0, {1: (1, 2)})
    assert inbox.length() == 0
    assert stores.redis.exists(KEYS.inbox_draining(0))        # until the drain gives it up
    assert inbox.release_drain(0) is True
    assert not stores.redis.exists(KEYS.inbox_draining(0))    # claim ends when empty
    assert inbox.push([rating(3, 10, 1.0, 100)]) == [0]


def test_a_drain_giving_its_claim_up_takes_it_again_when_events_came(stores):
    inbox = stores.inbox
    assert inbox.push([rating(1, 10, 2.0, 100)]) == [0]
    inbox.drain({P1: 10})
    assert inbox.push([rating(2, 10, 2.0, 100)]) == []        # the claim was held: no new job
    assert inbox.release_drain(0) is False                    # so the drain keeps the lane
    assert stores.redis.exists(KEYS.inbox_draining(0))
    assert inbox.drain({P2: 10})[P2].applied == 1
    assert inbox.release_drain(0) is True


def test_a_lane_is_claimed_by_the_sweep_only_when_its_partitions_hold_events(stores):
    inbox = stores.inbox
    assert inbox.claim_drain(0) is False                      # nothing waits
    assert inbox.push([rating(2, 10, 2.0, 100)]) == [0]
    stores.redis.delete(KEYS.inbox_draining(0))               # its drain died: the claim lapsed
    assert inbox.claim_drain(0) is True
    assert inbox.claim_drain(0) is False                      # held
    inbox.renew_drain_claim(0)
    assert 0 < stores.redis.pttl(KEYS.inbox_draining(0)) <= 1000


def test_the_partitions_are_shared_among_the_lanes(client):
    stores = stores_on(client, "t", drain_lanes=3)
    inbox = stores.inbox
    assert inbox.lanes == 3
    assert inbox.partitions(0) == list(range(0, KEYS.partitions, 3))
    assert inbox.partitions(2) == list(range(2, KEYS.partitions, 3))
    assert sorted(p for lane in range(3) for p in inbox.partitions(lane)) == list(
        range(KEYS.partitions))
    users = {}  # a user of each lane
    for user in range(1, 100):
        users.setdefault(KEYS.partition_of(user) % 3, user)
    assert sorted(users) == [0, 1, 2]
    assert inbox.push([rating(users[2], 10, 2.0, 100)]) == [2]
    assert inbox.push([rating(u, 10, 2.0, 100) for u in users.values()]) == [0, 1]
    assert inbox.push([rating(users[1], 11, 2.0, 100)]) == []
    assert all(stores.redis.exists(KEYS.inbox_draining(lane)) for lane in range(3))
    assert stores_on(client, "t", drain_lanes=1000).inbox.lanes == KEYS.partitions


def test_heads_and_dead_letters_are_per_partition_and_listed_together(stores):
    inbox = stores.inbox
    inbox.push([rating(1, 10, 2.0, 100), rating(2, 10, 2.0, 100), rating(1, 11, 2.0, 100)])
    head1, head2 = inbox.head(P1), inbox.head(P2)
    assert json.loads(head1)[:3] == ["rating", "1", "10"]
    assert json.loads(head2)[:3] == ["rating", "2", "10"]
    assert inbox.dead_letter(P1, head2, "not its partition", 3) is False
    assert inbox.dead_letter(P2, head2, "boom", 3) is True
    assert inbox.dead_letter(P1, head1, "bang", 3) is True
    assert inbox.length() == 1 and inbox.dead_letter_count() == 2
    letters = inbox.dead_letters()
    assert [(letter["error"], letter["items"]) for letter in letters] == [
        ("boom", [head2.decode()]), ("bang", [head1.decode()])]
    assert inbox.replay_dead_letters([letters[0]["id"]]) == 1
    assert inbox.head(P2) == head2 and inbox.dead_letter_count() == 1
    assert inbox.replay_dead_letters() == 1
    assert inbox.length() == 3 and inbox.dead_letter_count() == 0
    assert stores.redis.lrange(KEYS.inbox(P1), 0, -1)[-1] == head1  # at the end of its inbox
