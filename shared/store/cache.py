"""The computed recommendation lists (``Keys.recommendations_cache``).

Two scripts: the lookup, which returns either the list or what it is computed from (the
user's revision, live view and cluster), and the keep, which keeps a computed list unless the
user changed meanwhile. A lookup carries the keeps of lists computed before it (the API's
write-behind) and the lookups of the requests waiting with it (the API's group calls): one
round trip for all. A plain pipeline of reads instead of the lookup script saves Redis CPU but
costs the API more per request than it saves: redis-py spends tens of microseconds on each
command of a pipeline (docs/topn-benchmark.md).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from shared.recsys.ratings import LiveRatings
from shared.store.client import lua_script, script_calls
from shared.store.keys import Keys
from shared.store.ratings import live_from_view, user_state_call

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserState:
    """What a list is computed from: the user's revision (for :meth:`RecommendationCache.keep`),
    live ratings (movie_id -> rating, 0.0 when only favoured) and cluster (None without one)."""
    revision: bytes
    ratings: LiveRatings
    cluster: int | None


@dataclass(frozen=True)
class ComputedList:
    """A list to keep: its body, computed for the user at ``revision``, under ``field``, for
    ``ttl`` seconds at most."""
    user_id: int
    revision: bytes
    field: str
    body: bytes
    ttl: int


@dataclass(frozen=True)
class Lookup:
    """One request for a list: the user, the model version its cluster is read under (None
    without a model) and the cache field that names the list."""
    user_id: int
    version: str | None
    field: str



class RecommendationCache:
    def __init__(self, client: redis.Redis, keys: Keys):
        self.redis = client
        self.keys = keys
        self._lookup = lua_script(client, "user_state.lua")
        self._keep = lua_script(client, "cache.lua")

    def lookup_many(self, lookups: list[Lookup],
                    keeping: Sequence[ComputedList] = ()) -> list[bytes | UserState]:
        """For each lookup, in its order, the cached list or the user's state, after keeping
        the lists ``keeping`` as :meth:`keep_many` would: one round trip for all. A list Redis
        refuses to keep (full) costs the cache, not the lookups: it is logged and dropped."""
        replies = script_calls(self.redis, [(self._keep, *self._keep_call(c)) for c in keeping]
                               + [(self._lookup, *self._call(lookup)) for lookup in lookups])
        for computed, kept in zip(keeping, replies):
            if isinstance(kept, Exception):
                log.warning("recommendations of user %s not cached: %s", computed.user_id, kept)
        answers = replies[len(keeping):]
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return [self._answer(answer) for answer in answers]

    def keep_many(self, lists: list[ComputedList]) -> list[bool]:
        """Keep each list unless its user changed since its revision (the script that applies
        their changes drops the cache); one round trip for all. True for each list kept."""
        replies = script_calls(self.redis, [(self._keep, *self._keep_call(c)) for c in lists])
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [bool(kept) for kept in replies]

    def _keep_call(self, computed: ComputedList) -> tuple[list, list]:
        """The keys and arguments of cache.lua for ``computed``."""
        return ([self.keys.user_revisions(self.keys.partition_of(computed.user_id)),
                 self.keys.recommendations_cache(computed.user_id)],
                [computed.user_id, computed.revision, computed.field, computed.body, computed.ttl])

    def _call(self, lookup: Lookup) -> tuple[list, list]:
        return user_state_call(self.keys, lookup.user_id, lookup.field, lookup.version)

    @staticmethod
    def _answer(reply) -> bytes | UserState:
        if isinstance(reply, bytes):
            return reply
        revision, view, cluster = reply
        return UserState(revision, live_from_view(view), None if cluster is None else int(cluster))
