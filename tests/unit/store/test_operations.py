"""Heartbeats and the drain histogram (shared/store/operations.py) on fakeredis."""
import time

from shared.store import operations
from shared.store.keys import Keys
from shared.store.operations import DRAIN_BUCKETS, Operations


def test_a_worker_counts_as_alive_until_its_beats_stop(fake_redis, monkeypatch):
    monkeypatch.setattr(operations, "ALIVE_SECONDS", 0.3)
    ops = Operations(fake_redis, Keys("t"))
    assert ops.live_workers() == []
    ops.beat("a")
    ops.beat("b")
    assert sorted(ops.live_workers()) == ["a", "b"]
    time.sleep(0.2)
    ops.beat("b")
    time.sleep(0.2)
    assert ops.live_workers() == ["b"]


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
