"""The counters over all users, kept from the partitions' deltas.

Per-movie counts and sums, popular movies, events applied and each version's per-cluster
counters are global keys, out of every partition's slot. A partition's script (ratings.lua)
therefore records what a call changes in them as one delta in the partition, in the same
atomic step as the change itself, and the caller folds the deltas into the counters right
after (merge.lua): one more round trip per call, whatever the number of events. A delta is
folded once (each partition's last merged sequence number is kept), then forgotten by its
partition; one whose caller died before folding it is folded by the next call on its
partition, or by a worker's sweep (:meth:`shared.store.inbox.Inbox.claim_drain`).

So the counters are fresh as soon as a drain's round trip returns, and a read of them costs
what it cost on one Redis: the keys are the same, summed already.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import redis

from shared.store.client import lua_script, script_calls
from shared.store.keys import Keys

if TYPE_CHECKING:
    from shared.store.ratings import RatingsScript

MERGE_SCRIPT_KEYS = ("movie_counts", "movie_sums", "popular", "events_applied", "merged_deltas",
                     "active_version", "building_version")


class Deltas:
    def __init__(self, client: redis.Redis, keys: Keys, ratings: RatingsScript):
        self.redis = client
        self._script = lua_script(client, "merge.lua")
        self._keys = [getattr(keys, name) for name in MERGE_SCRIPT_KEYS]
        self._templates = json.dumps(keys.global_templates(), separators=(",", ":"))
        self._ratings = ratings
        # partition -> the sequence number of its last merged delta, not yet forgotten there
        self.unforgotten: dict[int, int] = {}

    def fold(self, pending: Mapping[int, Sequence[bytes]],
             forget: bool = True) -> dict[int, int]:
        """Fold the deltas ``pending`` (by partition, oldest first, as the ratings script
        returns them) into the counters, then drop them from their partitions: two round trips;
        without ``forget``, one, and the caller has the partitions drop them later (a drain
        does on its next call there, :meth:`forget_merged` at its end). Returns each
        partition's last merged sequence number."""
        args: list = [self._templates]
        for partition, deltas in pending.items():
            for delta in deltas:
                args += [partition, delta]
        if len(args) == 1:
            return {}
        reply = self._script(keys=self._keys, args=args)
        merged = {int(reply[i]): int(reply[i + 1]) for i in range(0, len(reply), 2)}
        self.unforgotten.update(merged)
        if forget:
            self.forget_merged()
        return merged

    def forget_merged(self) -> None:
        """Have the partitions drop the deltas merged since they last did, in one round trip."""
        merged, self.unforgotten = self.unforgotten, {}
        if not merged:
            return
        for forgotten in script_calls(self.redis, [
                self._ratings.call(partition, "forget_deltas", through)
                for partition, through in merged.items()]):
            if isinstance(forgotten, Exception):
                raise forgotten  # merged: the next call's fold passes them over, then forgets

    def merged_through(self, partition: int) -> int:
        """The sequence number of the partition's last merged delta."""
        return int(self.redis.hget(self._keys[MERGE_SCRIPT_KEYS.index("merged_deltas")],
                                   partition) or 0)
