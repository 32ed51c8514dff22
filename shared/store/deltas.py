"""The counters over all users, kept from the partitions' deltas.

Per-movie counts, sums and favourites live in the movie's partition, and each version's
per-cluster counters in the cluster's, out of the slot of the users who move them. A users'
partition's script (ratings.lua) therefore records what a call changes in them as a delta, in
the same atomic step as the change itself: an entry per partition of counters it moves. The
caller folds the entries into their partitions right after (merge.lua, a call per partition
named, all in one round trip whatever the number of events). An entry is folded once (each
partition of counters keeps the last sequence number it merged from each partition of users);
the delta is then forgotten by its partition. One whose caller died before folding it is
folded by the next call on its partition, or by a worker's sweep
(:meth:`shared.store.inbox.Inbox.claim_drain`).

So the counters are fresh as soon as a drain's round trip returns, spread over the partitions
as the users are, and a read of one movie's or cluster's counters is a read of one partition,
summed already.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import redis

from shared.store.client import lua_script, script_calls
from shared.store.keys import Keys

if TYPE_CHECKING:
    from shared.store.ratings import RatingsScript

# The Keys methods of a partition that merge.lua takes as KEYS, in the order it unpacks them.
MERGE_SCRIPT_KEYS = ("movie_counts", "movie_sums", "popular", "merged_deltas", "counted_versions")


def totals_source(version: str) -> str:
    """What stands for the partition of users in ``merged_deltas`` when a seeding folds
    ``version``'s totals (:meth:`Deltas.fold_totals`)."""
    return f"seed:{version}"


class Deltas:
    def __init__(self, client: redis.Redis, keys: Keys, ratings: RatingsScript):
        self.redis = client
        self._script = lua_script(client, "merge.lua")
        self._keys = [[getattr(keys, name)(p) for name in MERGE_SCRIPT_KEYS]
                      for p in range(keys.partitions)]
        self._templates = [json.dumps(keys.partition_templates(p), separators=(",", ":"))
                           for p in range(keys.partitions)]
        self._ratings = ratings
        # partition -> the sequence number of its last merged delta, not yet forgotten there
        self.unforgotten: dict[int, int] = {}

    def fold(self, pending: Mapping[int, Sequence[bytes]],
             forget: bool = True) -> dict[int, int]:
        """Fold the deltas ``pending`` (by partition, oldest first, as the ratings script
        returns them) into the partitions they move, then drop them from their partitions: two
        round trips; without ``forget``, one, and the caller has the partitions drop them later
        (a drain does on its next call there, :meth:`forget_merged` at its end). Returns each
        partition's last merged sequence number. Should a partition's merge fail, the others
        still count; the error is raised, and the deltas stay to be sent again."""
        by_home: dict[int, list] = {}
        last: dict[int, int] = {}
        for partition, entries in pending.items():
            for entry in entries:
                seq, home, _ = entry.split(b" ", 2)
                by_home.setdefault(int(home), []).extend((partition, entry))
                last[partition] = int(seq)
        if not by_home:
            return {}
        replies = script_calls(self.redis, [
            (self._script, self._keys[home], [self._templates[home], *args])
            for home, args in by_home.items()])
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        self.unforgotten.update(last)
        if forget:
            self.forget_merged()
        return last

    def fold_totals(self, source: str, bodies: Iterable[tuple[int, str]]) -> int:
        """Fold counters added up outside the scripts (a seeding's totals,
        :mod:`shared.store.seeding`), each body a delta's JSON for partition ``home``: a
        merge.lua call and a round trip per body, so that Redis serves others between them.
        ``source`` stands for the partition of users in the merged sequence numbers, so a body
        sent twice (a retried command) counts once. Returns the bodies folded."""
        sent: dict[int, int] = {}
        for home, body in bodies:
            sent[home] = sent.get(home, 0) + 1
            [reply] = script_calls(self.redis, [(
                self._script, self._keys[home],
                [self._templates[home], source, f"{sent[home]} {home} {body}"])])
            if isinstance(reply, Exception):
                raise reply
        return sum(sent.values())

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
