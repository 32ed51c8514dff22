"""Heartbeats and the drain histogram (shared/store/operations.py) on fakeredis."""
from types import SimpleNamespace

import pytest

from shared.store.keys import Keys
from shared.store.operations import ALIVE_SECONDS, DRAIN_BUCKETS, Operations


@pytest.fixture
def redis_clock(monkeypatch):
    """The clock fakeredis answers TIME from, which the heartbeats read (workers.lua), set by
    the test: the beats are timed by Redis, not by the test's process."""
    from fakeredis.commands_mixins import server_mixin

    clock = SimpleNamespace(now=1_700_000_000.0)
    monkeypatch.setattr(server_mixin, "time", SimpleNamespace(time=lambda: clock.now))
    return clock


def test_a_worker_counts_as_alive_until_its_beats_stop(fake_redis, redis_clock):
    ops = Operations(fake_redis, Keys("t"))
    assert ops.live_workers() == []
    ops.beat("a")
    ops.beat("b")
    assert sorted(ops.live_workers()) == ["a", "b"]
    redis_clock.now += 0.6 * ALIVE_SECONDS
    ops.beat("b")
    assert sorted(ops.live_workers()) == ["a", "b"]
    redis_clock.now += 0.6 * ALIVE_SECONDS  # a's last beat is now 1.2 windows old, b's 0.6
    assert ops.live_workers() == ["b"]
    redis_clock.now += 0.6 * ALIVE_SECONDS
    assert ops.live_workers() == []


def test_the_drain_histogram_is_cumulative_with_its_sum(fake_redis):
    ops = Operations(fake_redis, Keys("t"))
    for seconds in (0.0004, 0.003, 0.003, 7.0):
        ops.record_drain_batch(seconds)
    buckets, total = ops.drain_histogram()
    counts = dict(buckets)
    assert [bound for bound, _ in buckets] == [str(b) for b in DRAIN_BUCKETS] + ["+Inf"]
    assert counts["0.001"] == 1 and counts["0.0025"] == 1 and counts["0.005"] == 3
    assert counts["5.0"] == 3 and counts["+Inf"] == 4
    assert abs(total - 7.0064) < 1e-9
