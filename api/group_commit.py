"""Group commit: requests that wait on Redis at the same time share one round trip.

Under gevent workers several requests of one process are often ready to call Redis at once.
The first becomes the leader and makes its call; requests arriving meanwhile queue, and when
the leader's call returns it hands the lead to the first of them, which makes one call for
every queued request. No request answers before its own call has returned, and none waits
for more than the call in flight and its own.

A Redis round trip costs the API about as much CPU as a Flask hello-world request
(docs/live-benchmark.md), so sharing it is what lets single-event POSTs keep up. Under sync
workers a process serves one request at a time: every request leads, and calls alone.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence


class _Waiter:
    __slots__ = ("request", "wake", "lead", "result", "error")

    def __init__(self, request):
        self.request = request
        self.wake: threading.Event | None = None
        self.lead = False
        self.result = None
        self.error: BaseException | None = None


class GroupCall:
    """Runs ``run(requests)`` for the requests waiting, one run at a time.

    ``run`` gets the requests in arrival order and returns one result for each. An exception
    from ``run`` is raised in every request of that run.
    """

    def __init__(self, run: Callable[[list], Sequence]):
        self._run = run
        self._lock = threading.Lock()
        self._queued: list[_Waiter] = []
        self._busy = False

    def __call__(self, request):
        me = _Waiter(request)
        with self._lock:
            if self._busy:
                me.wake = threading.Event()
                self._queued.append(me)
            else:
                self._busy = me.lead = True
        if not me.lead:
            me.wake.wait()
        if me.lead:
            self._lead(me)
        if me.error is not None:
            raise me.error
        return me.result

    def _lead(self, me: _Waiter) -> None:
        with self._lock:
            batch, self._queued = [me, *self._queued], []
        try:
            results = self._run([waiter.request for waiter in batch])
            for waiter, result in zip(batch, results, strict=True):
                waiter.result = result
        except BaseException as exc:  # every request of the run gets it
            for waiter in batch:
                waiter.error = exc
        with self._lock:
            if self._queued:
                successor = self._queued.pop(0)
                successor.lead = True
                successor.wake.set()
            else:
                self._busy = False
        for waiter in batch[1:]:
            waiter.wake.set()
