"""When to retrain: every interval, at the times of a cron expression, after N new events.

Each due retrain has a slot name (the interval's number, the cron time, the event count it
counts from); a scheduler enqueues a retrain only when its claim of the slot in Redis succeeds,
so two schedulers running at once start one retrain per slot, not two. A scheduler claims only
slots that begin after it started: none fires at start-up.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from croniter import croniter

CLAIM_SECONDS = 24 * 3600  # a claimed slot is remembered this long (past any start-up race)


@dataclass(frozen=True)
class Schedule:
    every: float | None = None        # seconds between retrains
    cron: str | None = None           # a cron expression (UTC), e.g. "0 3 * * *"
    after_events: int | None = None   # new events since the active version's snapshot

    def __post_init__(self):
        if self.every is not None and self.every <= 0:
            raise ValueError(f"the retrain interval must be positive, got {self.every}")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"not a cron expression: {self.cron!r}")
        if self.after_events is not None and self.after_events < 1:
            raise ValueError(f"retrain after at least 1 event, got {self.after_events}")

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.every, self.cron, self.after_events))

    def describe(self) -> str:
        parts = ([f"every {self.every:g} s"] if self.every else []) + \
                ([f"at cron '{self.cron}' (UTC)"] if self.cron else []) + \
                ([f"after {self.after_events:,} new events"] if self.after_events else [])
        return ", ".join(parts) or "never"


class Scheduler:
    """Claims the slots that come due and enqueues their retrains.

    ``claim(slot, ttl)`` claims a slot for all schedulers; ``enqueue(reason)`` enqueues a
    retrain and returns its job id; ``new_events()`` is the number of events applied since the
    active version's snapshot (None when unknown)."""

    def __init__(self, schedule: Schedule, claim: Callable[[str, int], bool],
                 enqueue: Callable[[str], str], new_events: Callable[[], tuple[int, int] | None],
                 now: float):
        self.schedule = schedule
        self._claim, self._enqueue, self._new_events = claim, enqueue, new_events
        self._interval_seen = self._interval_slot(now)
        self._next_cron = (croniter(schedule.cron, now).get_next(float)
                           if schedule.cron else math.inf)

    def tick(self, now: float) -> list[tuple[str, str]]:
        """Enqueue what came due by ``now``: (slot, job id) for each retrain this one started."""
        due = []
        slot = self._interval_slot(now)
        if slot is not None and slot > self._interval_seen:
            self._interval_seen = slot
            due.append(f"every:{self.schedule.every:g}:{slot}")
        if now >= self._next_cron:
            due.append(f"cron:{int(self._next_cron)}")
            self._next_cron = croniter(self.schedule.cron, now).get_next(float)
        if self.schedule.after_events:
            counted = self._new_events()
            if counted is not None and counted[1] - counted[0] >= self.schedule.after_events:
                due.append(f"events:{counted[0]}")
        return [(slot, self._enqueue(slot)) for slot in due if self._claim(slot, CLAIM_SECONDS)]

    def _interval_slot(self, now: float) -> int | None:
        return int(now // self.schedule.every) if self.schedule.every else None
