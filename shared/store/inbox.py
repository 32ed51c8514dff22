"""The inbox: events the API accepted, waiting in a Redis list for a drain to apply them.

One drain at a time holds the inbox (a claim that expires unless renewed, so one that died is
replaced); it applies the events in batches through the ratings script, so each batch is applied
whole or not at all. An item the script keeps failing on goes to the dead letters, out of the
way of the items behind it, until an operator replays it.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable

import redis

from shared.data.events import Event
from shared.store.client import lua_script, script_call_replicated
from shared.store.keys import Keys
from shared.store.ratings import LOG_LENGTH, ApplyResult, RatingsScript

# A drain claim lasts this long unless its drain renews it (every batch does): a drain that
# died is replaced by the next sweep (worker.jobs.sweep_inbox) soon after.
DRAIN_CLAIM_MS = 1000


class BatchFailed(Exception):
    """The ratings script failed on what a batch holds (an error inside the script, a key of the
    wrong type): retrying the same batch fails the same way. Redis refusing work for the moment
    (out of memory, loading, a read-only replica) is not this: it raises the client's error."""


_TRANSIENT = (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError,
              redis.exceptions.BusyLoadingError, redis.exceptions.NoScriptError)


class Inbox:
    def __init__(self, client: redis.Redis, keys: Keys, write_replicas: int = 0,
                 replica_timeout_ms: int = 100):
        """``write_replicas``: how many replicas must hold pushed events before
        :meth:`push` returns (it raises :class:`NotReplicated` past ``replica_timeout_ms``)."""
        self.redis = client
        self.keys = keys
        self.write_replicas, self.replica_timeout_ms = write_replicas, replica_timeout_ms
        self._push_script = lua_script(client, "push.lua")
        self._push_keys = [keys.inbox, keys.inbox_draining]
        self._ratings_script = RatingsScript(client, keys)

    def push(self, events: Iterable[Event], now: float | None = None) -> bool:
        """Append events to the inbox; True when the caller must enqueue a drain job (no
        drain was under way). Many requests share one drain, so single events get batched.
        An item is the event's wire form followed by when it was accepted, so that how long
        the oldest one has waited can be told (:meth:`oldest_waiting_seconds`)."""
        accepted = round(time.time() if now is None else now, 3)
        items = [json.dumps([*e.wire(), accepted], separators=(",", ":")) for e in events]
        if self.write_replicas:
            return bool(script_call_replicated(self.redis, self._push_script, self._push_keys,
                                               [DRAIN_CLAIM_MS, *items], self.write_replicas,
                                               self.replica_timeout_ms))
        return bool(self._push_script(keys=self._push_keys, args=[DRAIN_CLAIM_MS, *items]))

    def claim_drain(self) -> bool:
        """Claim the inbox for a new drain when events wait and no drain holds it (a drain that
        died let its claim lapse); True when the caller must enqueue the drain job."""
        return bool(self.redis.llen(self.keys.inbox)) and bool(
            self.redis.set(self.keys.inbox_draining, 1, nx=True, px=DRAIN_CLAIM_MS))

    def drain(self, max_events: int = 1000, log: bool = True, now: float | None = None,
              release: bool = True) -> ApplyResult:
        """Take and apply the oldest ``max_events`` events in one script call; with
        ``release``, give up the drain claim once the inbox is empty."""
        try:
            result = self._ratings_script("drain", time.time() if now is None else now,
                                          max_events, 1 if log else 0, LOG_LENGTH,
                                          1 if release else 0, DRAIN_CLAIM_MS)
        except redis.ResponseError as exc:
            if isinstance(exc, _TRANSIENT):
                raise
            raise BatchFailed(f"{type(exc).__name__}: {exc}") from exc
        return ApplyResult.from_reply(result[0], result[1], result[3:], left=result[2])

    def renew_drain_claim(self) -> None:
        """Keep the drain claim while a drain works without a successful batch (each batch
        renews it), so that no sweep starts a second drain meanwhile."""
        self.redis.set(self.keys.inbox_draining, 1, px=DRAIN_CLAIM_MS)

    def head(self) -> bytes | None:
        """The oldest item (what the next drain starts with)."""
        return self.redis.lindex(self.keys.inbox, 0)

    def length(self) -> int:
        return self.redis.llen(self.keys.inbox)

    def oldest_waiting_seconds(self, now: float | None = None) -> float:
        """How long the oldest event has waited since it was accepted; 0 when none waits."""
        head = self.head()
        if head is None:
            return 0.0
        try:
            accepted = float(json.loads(head)[6])
        except (ValueError, IndexError, TypeError):
            return 0.0  # an item pushed by hand, without its time
        return max(0.0, (time.time() if now is None else now) - accepted)

    def dead_letter(self, item: bytes, error: str, attempts: int) -> bool:
        """Move ``item``, which failed ``attempts`` times with ``error``, from the head of the
        inbox to the dead letters; False when it is no longer at the head."""
        entry = {"id": uuid.uuid4().hex[:12], "error": error[:2000], "attempts": attempts,
                 "failed_at": time.time()}
        return bool(self._ratings_script("dead_letter", json.dumps(entry), item))

    def dead_letter_count(self) -> int:
        return self.redis.llen(self.keys.dead_letters)

    def dead_letters(self) -> list[dict]:
        """The dead letters, oldest first: id, items (as stored), error, attempts, failed_at."""
        return [json.loads(e) for e in self.redis.lrange(self.keys.dead_letters, 0, -1)]

    def replay_dead_letters(self, ids: Iterable[str] | None = None) -> int:
        """Put the items of the dead letters ``ids`` (all without) back at the end of the inbox,
        in one transaction, and drop those letters; how many items. The caller then makes sure
        a drain runs (:meth:`claim_drain`)."""
        wanted = None if ids is None else set(ids)
        raw = self.redis.lrange(self.keys.dead_letters, 0, -1)
        chosen = [(text, json.loads(text)) for text in raw]
        chosen = [(t, e) for t, e in chosen if wanted is None or e["id"] in wanted]
        if wanted is not None and len(chosen) < len(wanted):
            missing = sorted(wanted - {e["id"] for _, e in chosen})
            raise KeyError(f"no dead letter {', '.join(missing)}")
        items = [item for _, e in chosen for item in e["items"]]
        if not items:
            return 0
        with self.redis.pipeline() as pipe:
            pipe.rpush(self.keys.inbox, *items)
            for text, _ in chosen:
                pipe.lrem(self.keys.dead_letters, 1, text)
            pipe.execute()
        return len(items)
