"""The inbox's semantics, on fakeredis and on a real Redis (same assertions)."""
import pytest

from shared.data.events import Event
from shared.store.keys import Keys
from tests.conftest import stores_on

KEYS = Keys("t")


@pytest.fixture
def stores(client):
    return stores_on(client, "t")


def rating(user, movie, stars, ts, event_id=""):
    return Event("rating", user, movie, int(stars * 2), float(ts), event_id)


def test_push_claims_one_drain_for_many_requests_and_drain_applies_in_order(stores):
    inbox, store = stores.inbox, stores.ratings
    assert inbox.push([rating(1, 10, 2.0, 100)]) is True      # first: enqueue a drain job
    assert inbox.push([rating(1, 10, 4.0, 200), rating(2, 10, 1.0, 100)]) is False
    assert inbox.length() == 3
    first = inbox.drain(max_events=2)
    assert (first.applied, first.skipped, first.left) == (2, 0, 1)
    assert store.user_ratings(1)[10][0] == 4.0
    assert stores.redis.exists(KEYS.inbox_draining)           # still claimed: events left
    last = inbox.drain(max_events=2)
    assert (last.applied, last.left, last.changed) == (1, 0, {2: (0, 1)})
    assert not stores.redis.exists(KEYS.inbox_draining)       # claim ends when empty
    assert inbox.push([rating(3, 10, 1.0, 100)]) is True
