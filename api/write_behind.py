"""Write-behind: a request does not wait to keep the list it computed. The list waits in its
process until the process's next lookup, which keeps it in the same round trip (a keep of
its own would cost about as much API CPU as the lookup); when no lookup comes within
DELAY_SECONDS, a thread of the process keeps it in a round trip of its own. A process killed
meanwhile loses those lists from the cache, nothing else.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

DELAY_SECONDS = 0.01

log = logging.getLogger(__name__)


class WriteBehind:
    """Items to ``write(items)``: :meth:`take` hands them to a round trip going anyway; what
    is left after ``delay`` seconds is written by a thread of its own."""

    def __init__(self, write: Callable[[list], object], delay: float = DELAY_SECONDS):
        self._write = write
        self._delay = delay
        self._items: list = []
        self._takes = 0  # round trips that took the items waiting
        self._lock = threading.Lock()
        self._added = threading.Event()
        self._writer: threading.Thread | None = None  # started by the first item

    def add(self, item) -> None:
        with self._lock:
            self._items.append(item)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_what_is_left,
                                                name="write-behind", daemon=True)
                self._writer.start()
        self._added.set()

    def take(self) -> list:
        """Every item waiting, now the caller's to write."""
        with self._lock:
            items, self._items = self._items, []
            self._takes += 1
        return items

    def flush(self) -> None:
        """Write every item waiting, now."""
        items = self.take()
        if items:
            try:
                self._write(items)
            except Exception as exc:  # a cache write lost is logged, not raised
                log.warning("%d computed lists not cached: %s", len(items), exc)

    def _write_what_is_left(self) -> None:
        """After an item comes, wait ``delay``; write what waits unless a round trip came by
        meanwhile (under load one always does, and this writes nothing)."""
        pause = threading.Event()  # never set: its wait is the delay
        while True:
            self._added.wait()
            self._added.clear()
            takes = self._takes
            pause.wait(self._delay)
            if self._takes == takes:
                self.flush()
            elif self._items:
                self._added.set()  # added after that round trip: give the next one its delay
