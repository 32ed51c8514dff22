import json
import threading
import time

import pytest

from api.group_commit import GroupCall


class GatedRun:
    """A run that records its batches and, until ``gate`` is set, blocks inside each."""

    def __init__(self, fail_on=()):
        self.batches: list[list] = []
        self.gate = threading.Event()
        self.inside = threading.Event()
        self.fail_on = set(fail_on)

    def __call__(self, requests):
        self.batches.append(list(requests))
        self.inside.set()
        self.gate.wait(5)
        if len(self.batches) in self.fail_on:
            raise ConnectionError(f"run {len(self.batches)} failed")
        return [f"reply to {r}" for r in requests]


def call_in_thread(group, request, out):
    def target():
        try:
            out[request] = group(request)
        except Exception as exc:  # the test inspects it
            out[request] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_lone_request_runs_at_once_and_gets_its_own_result():
    run = GatedRun()
    run.gate.set()
    group = GroupCall(run)
    assert group("a") == "reply to a"
    assert group("b") == "reply to b"
    assert run.batches == [["a"], ["b"]]


def test_requests_arriving_during_a_run_share_the_next_one_in_arrival_order():
    run = GatedRun()
    group = GroupCall(run)
    out = {}
    first = call_in_thread(group, "first", out)
    assert run.inside.wait(5)
    others = []
    for i in range(3):
        others.append(call_in_thread(group, f"r{i}", out))
        wait_until(lambda i=i: len(group._queued) == i + 1)
    run.gate.set()
    for thread in [first, *others]:
        thread.join(5)
    assert run.batches == [["first"], ["r0", "r1", "r2"]]
    assert out == {r: f"reply to {r}" for r in ("first", "r0", "r1", "r2")}


def test_a_failed_run_raises_in_each_of_its_requests_and_the_next_run_goes_on():
    run = GatedRun(fail_on={2})
    group = GroupCall(run)
    out = {}
    first = call_in_thread(group, "ok", out)
    assert run.inside.wait(5)
    failing = [call_in_thread(group, f"x{i}", out) for i in range(2)]
    wait_until(lambda: len(group._queued) == 2)
    run.gate.set()
    for thread in [first, *failing]:
        thread.join(5)
    assert out["ok"] == "reply to ok"
    assert all(isinstance(out[f"x{i}"], ConnectionError) for i in range(2))
    assert group("after") == "reply to after"


def test_a_run_that_answers_the_wrong_number_of_requests_fails_them_all():
    group = GroupCall(lambda requests: ["one too many"] * (len(requests) + 1))
    with pytest.raises(ValueError):
        group("a")
    assert not group._busy  # and the lead is given back


def test_many_threads_lose_no_request_and_never_run_concurrently():
    busy, overlaps, seen = threading.Lock(), [], []

    def run(requests):
        if not busy.acquire(blocking=False):
            overlaps.append(requests)
            return [r[1] * 2 for r in requests]
        try:
            time.sleep(0.0005)
            seen.extend(requests)
            return [r[1] * 2 for r in requests]
        finally:
            busy.release()

    group = GroupCall(run)
    results = {t: [] for t in range(8)}

    def client(t):
        for k in range(200):
            results[t].append(group((t, k)))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not overlaps
    assert sorted(seen) == sorted((t, k) for t in range(8) for k in range(200))
    for t in range(8):  # each thread got its own results, in the order it asked
        assert results[t] == [2 * k for k in range(200)]
        assert [k for u, k in seen if u == t] == list(range(200))


def test_one_push_call_carries_every_request_and_only_the_first_may_enqueue(fake_redis):
    from api.app import push_all
    from shared.data.events import validate_events
    from shared.store.inbox import Inbox
    from shared.store.keys import Keys

    inbox = Inbox(fake_redis, Keys("t"))
    requests = [validate_events({"type": "rating", "user_id": u, "movie_id": 7, "rating": 4,
                                 "ts": 1}, now=2) for u in (1, 2, 3)]
    assert push_all(inbox, requests) == [[0], [], []]  # no drain under way: claim lane 0
    keys = inbox.keys
    assert len({keys.partition_of(user) for user in (1, 2, 3)}) == 3  # three partitions
    for user in (1, 2, 3):  # each event in its user's partition's inbox
        assert [u for _, u, *_ in map(json.loads, fake_redis.lrange(
            keys.inbox(keys.partition_of(user)), 0, -1))] == [str(user)]
    assert inbox.length() == 3
    assert push_all(inbox, requests[:2]) == [[], []]  # the claim is taken now
    # with lanes, the first request is told every lane the events claimed, once each
    laned = Inbox(fake_redis, Keys("t2"), lanes=4)
    lanes = sorted({laned.keys.partition_of(user) % 4 for user in (1, 2, 3)})
    assert len(lanes) > 1
    assert push_all(laned, requests) == [lanes, [], []]
    assert push_all(laned, requests) == [[], [], []]

