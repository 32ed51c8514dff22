"""The inbox: events the API accepted, waiting in Redis lists (one per partition) for a drain
to apply them.

The partitions are shared among ``lanes`` (partition ``p`` is lane ``p % lanes``). One drain
at a time holds a lane (a claim that expires unless renewed, so one that died is replaced); it
applies the events of the lane's partitions in batches, a script call per partition and all
of a round in one round trip, so each batch is applied whole or not at all. An item the
script keeps failing on goes to its partition's dead letters, out of the way of the items
behind it, until an operator replays it.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable

import redis

from shared.data.events import Event
from shared.store.client import NotReplicated, script_calls, send_commands
from shared.store.deltas import Deltas
from shared.store.keys import Keys
from shared.store.ratings import LOG_LENGTH, ApplyResult, RatingsScript

# A drain claim lasts this long unless its drain renews it: a drain that died is replaced by
# the next sweep (worker.jobs.sweep_inbox) soon after.
DRAIN_CLAIM_MS = 1000


class BatchFailed(Exception):
    """The ratings script failed on what a batch holds (an error inside the script, a key of the
    wrong type): retrying the same batch fails the same way. Redis refusing work for the moment
    (out of memory, loading, a read-only replica, a slot moving) is not this: it raises the
    client's error."""


_TRANSIENT = (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError,
              redis.exceptions.BusyLoadingError, redis.exceptions.NoScriptError,
              redis.exceptions.MovedError, redis.exceptions.AskError,
              redis.exceptions.TryAgainError, redis.exceptions.ClusterDownError)


class Inbox:
    def __init__(self, client: redis.Redis, keys: Keys, lanes: int = 1, write_replicas: int = 0,
                 replica_timeout_ms: int = 100):
        """``lanes``: drains that may run at once (at most one per partition).
        ``write_replicas``: how many replicas must hold pushed events before :meth:`push`
        returns (it raises :class:`NotReplicated` past ``replica_timeout_ms``)."""
        self.redis = client
        self.keys = keys
        self.lanes = max(1, min(lanes, keys.partitions))
        self.write_replicas, self.replica_timeout_ms = write_replicas, replica_timeout_ms
        self._ratings_script = RatingsScript(client, keys)
        self._deltas = Deltas(client, keys, self._ratings_script)

    def partitions(self, lane: int) -> list[int]:
        """The partitions whose events the drain of ``lane`` applies."""
        return list(range(lane, self.keys.partitions, self.lanes))

    def push(self, events: Iterable[Event], now: float | None = None) -> list[int]:
        """Append events to their partitions' inboxes, in one round trip; the lanes the caller
        must enqueue a drain job for (no drain was under way). Many requests share one drain,
        so single events get batched. An item is the event's wire form followed by when it
        was accepted, so that how long the oldest one has waited can be told
        (:meth:`oldest_waiting_seconds`). Events of several partitions are not written as one:
        should a node fail in between, the request is answered 503 and its retry applies
        each event once all the same."""
        accepted = round(time.time() if now is None else now, 3)
        parts: dict[int, list[str]] = {}
        for event in events:
            wire = event.wire()
            parts.setdefault(self.keys.partition_of(wire[1]), []).append(
                json.dumps([*wire, accepted], separators=(",", ":")))
        lanes = sorted({partition % self.lanes for partition in parts})
        replies, acknowledged = send_commands(
            self.redis, [("RPUSH", self.keys.inbox(p), *items) for p, items in parts.items()],
            then=[("SET", self.keys.inbox_draining(lane), 1, "NX", "PX", DRAIN_CLAIM_MS)
                  for lane in lanes],
            wait=(self.write_replicas, self.replica_timeout_ms) if self.write_replicas else None)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        if acknowledged is not None and acknowledged < self.write_replicas:
            raise NotReplicated(f"{acknowledged} of the {self.write_replicas} replicas asked for "
                                f"acknowledged the write within {self.replica_timeout_ms} ms")
        return [lane for lane, claimed in zip(lanes, replies[len(parts):]) if claimed]

    def claim_drain(self, lane: int) -> bool:
        """Claim ``lane`` for a new drain when events (or deltas a drain that died left
        unmerged) wait in its partitions and no drain holds it; True when the caller must
        enqueue the drain job."""
        with self.redis.pipeline(transaction=False) as pipe:
            for partition in self.partitions(lane):
                pipe.llen(self.keys.inbox(partition))
                pipe.llen(self.keys.deltas(partition))
            waiting = any(pipe.execute())
        return waiting and bool(self.redis.set(self.keys.inbox_draining(lane), 1, nx=True,
                                               px=DRAIN_CLAIM_MS))

    def release_drain(self, lane: int) -> bool:
        """Give the claim on ``lane`` up, and take it again when events came meanwhile (a push
        that found it still held enqueued no drain); True when it was given up. The deltas its
        drains merged are dropped first, so that no sweep takes them for a dead drain's."""
        self.forget_merged()
        self.redis.delete(self.keys.inbox_draining(lane))
        return not self.claim_drain(lane)

    def renew_drain_claim(self, lane: int) -> None:
        """Keep the claim on ``lane`` while its drain works."""
        self.redis.set(self.keys.inbox_draining(lane), 1, px=DRAIN_CLAIM_MS)

    def drain(self, batches: dict[int, int], log: bool = True,
              now: float | None = None) -> dict[int, ApplyResult | BatchFailed]:
        """Take and apply the oldest ``batches[p]`` events of each partition ``p``, a script
        call each and all in one round trip, and fold their deltas: each partition's result,
        or the :class:`BatchFailed` of a partition whose batch the script failed on."""
        now = time.time() if now is None else now
        merged = self._deltas.unforgotten
        replies = script_calls(self.redis, [
            self._ratings_script.call(partition, "drain", now, most, 1 if log else 0, LOG_LENGTH,
                                      merged.pop(partition, 0))
            for partition, most in batches.items()])
        results: dict[int, ApplyResult | BatchFailed] = {}
        pending, refused = {}, None
        for partition, reply in zip(batches, replies):
            if not isinstance(reply, Exception):
                results[partition] = ApplyResult.from_reply(reply)
                pending[partition] = reply[-1]
            elif isinstance(reply, redis.ResponseError) and not isinstance(reply, _TRANSIENT):
                results[partition] = BatchFailed(f"{type(reply).__name__}: {reply}")
            else:
                refused = reply
        self._deltas.fold(pending, forget=False)  # the partitions forget on their next drain
        if refused is not None:
            raise refused
        return results

    def forget_merged(self) -> None:
        """Have the partitions drop the deltas this inbox's drains merged and did not drop yet
        (a drain does before it lets its lane go)."""
        self._deltas.forget_merged()

    def waiting(self, partitions: list[int]) -> list[int]:
        """Those of ``partitions`` whose inbox holds events, in one round trip of LLENs."""
        lengths, _ = send_commands(self.redis, [("LLEN", self.keys.inbox(p))
                                                for p in partitions])
        for length in lengths:
            if isinstance(length, Exception):
                raise length
        return [p for p, length in zip(partitions, lengths) if length]

    def head(self, partition: int) -> bytes | None:
        """The partition's oldest item (what its next drain starts with)."""
        return self.redis.lindex(self.keys.inbox(partition), 0)

    def _each_partition(self, command: str, key, *args) -> list:
        """``command`` on the key ``key(p)`` of every partition ``p``, in one pipeline."""
        with self.redis.pipeline(transaction=False) as pipe:
            for partition in range(self.keys.partitions):
                getattr(pipe, command)(key(partition), *args)
            return pipe.execute()

    def length(self) -> int:
        """Events waiting, in every partition."""
        return sum(self._each_partition("llen", self.keys.inbox))

    def oldest_waiting_seconds(self, now: float | None = None) -> float:
        """How long the oldest event has waited since it was accepted; 0 when none waits."""
        accepted = []
        for head in self._each_partition("lindex", self.keys.inbox, 0):
            try:
                accepted.append(float(json.loads(head)[6]))
            except (TypeError, ValueError, IndexError):
                continue  # none waits, or an item pushed by hand, without its time
        if not accepted:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - min(accepted))

    def dead_letter(self, partition: int, item: bytes, error: str, attempts: int) -> bool:
        """Move ``item``, which failed ``attempts`` times with ``error``, from the head of its
        partition's inbox to the dead letters; False when it is no longer at the head."""
        entry = {"id": uuid.uuid4().hex[:12], "error": error[:2000], "attempts": attempts,
                 "failed_at": time.time()}
        return bool(self._ratings_script(partition, "dead_letter", json.dumps(entry), item))

    def _dead_letter_lists(self) -> list[list[bytes]]:
        return self._each_partition("lrange", self.keys.dead_letters, 0, -1)

    def dead_letter_count(self) -> int:
        return sum(self._each_partition("llen", self.keys.dead_letters))

    def dead_letters(self) -> list[dict]:
        """The dead letters, oldest first: id, items (as stored), error, attempts, failed_at."""
        letters = [json.loads(text) for texts in self._dead_letter_lists() for text in texts]
        return sorted(letters, key=lambda letter: letter["failed_at"])

    def replay_dead_letters(self, ids: Iterable[str] | None = None) -> int:
        """Put the items of the dead letters ``ids`` (all without) back at the end of their
        partitions' inboxes, a transaction per partition, and drop those letters; how many
        items. The caller then makes sure drains run (:meth:`claim_drain`)."""
        wanted = None if ids is None else set(ids)
        chosen = [(partition, text, json.loads(text))
                  for partition, texts in enumerate(self._dead_letter_lists()) for text in texts]
        chosen = [(p, t, e) for p, t, e in chosen if wanted is None or e["id"] in wanted]
        if wanted is not None and len(chosen) < len(wanted):
            missing = sorted(wanted - {e["id"] for _, _, e in chosen})
            raise KeyError(f"no dead letter {', '.join(missing)}")
        count = 0
        for partition in sorted({p for p, _, _ in chosen}):
            letters = [(t, e) for p, t, e in chosen if p == partition]
            items = [item for _, e in letters for item in e["items"]]
            with self.redis.pipeline() as pipe:
                if items:
                    pipe.rpush(self.keys.inbox(partition), *items)
                for text, _ in letters:
                    pipe.lrem(self.keys.dead_letters(partition), 1, text)
                pipe.execute()
            count += len(items)
        return count
