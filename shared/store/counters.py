"""Reads of the live counters the Lua script keeps (per movie, per user, per taste cluster)
and of a user's event log, each in as few round trips as it can take."""
from __future__ import annotations

import heapq
import json
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import redis

from shared.recsys.strategies import ClusterCounters, ClusterReads
from shared.store.client import lua_script, script_calls
from shared.store.keys import Keys


@dataclass(frozen=True)
class MovieStats:
    n_ratings: int
    half_star_sum: int
    n_favourites: int

    @property
    def mean_rating(self) -> float | None:
        return self.half_star_sum / 2 / self.n_ratings if self.n_ratings else None


log = logging.getLogger(__name__)

# The windows of trending movies: the buckets they read (ratings.lua's count_trending keeps
# them), the size of one and how many make the window.
TRENDING_WINDOWS = {"24h": ("h", 3600, 24), "7d": ("d", 86400, 7)}
RECENT_FIRST = 1e-9  # a bucket's weight over the one before it: later events break ties


def trending_buckets(window: str, now: float) -> dict[str, float]:
    """The buckets ``window`` reads at ``now`` (event time) and the weight of each: 1, but the
    oldest, which reaches back before the window, counts for its share inside it (its events
    taken as spread evenly over it), so the window slides smoothly rather than by buckets.
    Each bucket counts ``RECENT_FIRST`` more than the one before it: of two movies with as
    many events, the one with the later events trends first (at a few events a movie, most of
    a list's tail ties), with no effect on the counts as shown."""
    prefix, size, count = TRENDING_WINDOWS[window]
    start = now - size * count
    first, last = int(start // size), int(now // size)
    weights = {f"{prefix}{n}": 1.0 + RECENT_FIRST * (n - first) for n in range(first, last + 1)}
    weights[f"{prefix}{first}"] = ((first + 1) * size - start) / size
    return weights


def _ranked(rows) -> tuple[tuple[int, float], ...]:
    return tuple((int(member), float(score)) for member, score in rows)


class CounterStore:
    def __init__(self, client: redis.Redis, keys: Keys):
        self.redis = client
        self.keys = keys
        self._trending = lua_script(client, "trending.lua")

    def cluster_of(self, version: str, user_id: int) -> int | None:
        """The user's taste cluster under ``version``; None when the user has none."""
        raw = self.redis.hget(self.keys.assignments(version, self.keys.partition_of(user_id)),
                              user_id)
        return None if raw is None else int(raw)

    def clusters_of(self, version: str, user_ids: list[int]) -> list[int | None]:
        """:meth:`cluster_of` of each user of ``user_ids``, in one round trip (an HMGET per
        partition)."""
        parts: dict[int, list[int]] = {}
        for user in user_ids:
            parts.setdefault(self.keys.partition_of(user), []).append(user)
        with self.redis.pipeline(transaction=False) as pipe:
            for partition, users in parts.items():
                pipe.hmget(self.keys.assignments(version, partition), users)
            replies = pipe.execute()
        found = {user: cluster for users, clusters in zip(parts.values(), replies)
                 for user, cluster in zip(users, clusters)}
        return [None if found[user] is None else int(found[user]) for user in user_ids]

    def cluster_counters(self, version: str, cluster: int, reads: ClusterReads) -> ClusterCounters:
        """The cluster's size and the head of its ranked counters that ``reads`` asks for: one
        round trip, and one more for the rating counts of the means read."""
        favourites_key = self.keys.cluster_favourites(version, cluster)
        means_key = self.keys.cluster_means(version, cluster)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.cluster_sizes(version, self.keys.partition_of(cluster)), cluster)
            if reads.favourites:
                pipe.zrevrange(favourites_key, 0, reads.favourites - 1, withscores=True)
            if reads.means:
                pipe.zrevrange(means_key, 0, reads.means - 1, withscores=True)
            size, *ranked = pipe.execute()
        favourites = _ranked(ranked.pop(0)) if reads.favourites else ()
        shrunk = _ranked(ranked.pop(0)) if reads.means else ()
        means: tuple[tuple[int, float, int], ...] = ()
        if shrunk:
            counts = self.redis.hmget(self.keys.cluster_counts(version, cluster),
                                      [m for m, _ in shrunk])
            means = tuple((m, s, int(c or 0)) for (m, s), c in zip(shrunk, counts))
        return ClusterCounters(cluster, int(size or 0), favourites, means)

    def popular(self, limit: int) -> tuple[tuple[int, float], ...]:
        """The ``limit`` movies most users favour, as ``(movie_id, users)``, most first (ties
        as one sorted set orders them: by the id's digits, last first): the heads of the
        partitions' rankings, read in one round trip, merged."""
        if limit <= 0:
            return ()
        with self.redis.pipeline(transaction=False) as pipe:
            for partition in range(self.keys.partitions):
                pipe.zrevrange(self.keys.popular(partition), 0, limit - 1, withscores=True)
            heads = [row for rows in pipe.execute() for row in _ranked(rows)]
        return tuple(heapq.nlargest(limit, heads, key=lambda row: (row[1], str(row[0]))))

    def trending(self, window: str, now: float, limit: int) -> tuple[tuple[int, float], ...]:
        """The ``limit`` movies with the most events in the last ``window``
        (``TRENDING_WINDOWS``) before ``now``, as ``(movie_id, events)``, most first (ties: the
        later events first, then as :meth:`popular`): each partition's buckets summed with
        their weights and its head read by ``trending.lua``, one call per partition in one
        round trip, the heads merged."""
        weights = trending_buckets(window, now)
        calls = [(self._trending,
                  [self.keys.trending(partition, "sum"),
                   *(self.keys.trending(partition, bucket) for bucket in weights)],
                  [limit, *weights.values()])
                 for partition in range(self.keys.partitions)]
        members, scores = [], []
        for reply in script_calls(self.redis, calls):
            if isinstance(reply, Exception):
                raise reply
            members += reply[0::2]
            scores += reply[1::2]
        if not members:
            return ()
        ids, events = np.array(members), np.array(scores).astype(np.float64)
        order = np.lexsort((ids, events))[::-1]  # as one sorted set: ties by the id's bytes
        order = order[events[order] > 0][:limit]
        shown = np.round(events[order], 6)  # without the weights' tie-breaking parts
        return tuple(zip(ids[order].astype(np.int64).tolist(), shown.tolist()))

    def movie_stats(self, movie_id: int) -> MovieStats:
        partition = self.keys.partition_of(movie_id)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.movie_counts(partition), movie_id)
            pipe.hget(self.keys.movie_sums(partition), movie_id)
            pipe.zscore(self.keys.popular(partition), movie_id)
            count, total, favourites = pipe.execute()
        return MovieStats(int(count or 0), int(total or 0), int(favourites or 0))

    def last_events(self, user_id: int, count: int) -> list[dict]:
        """The user's ``count`` latest events, newest first: type, movie_id, ts and, for a
        rating, the rating."""
        events = []
        for raw in self.redis.lrange(self.keys.user_log(user_id), 0, count - 1):
            kind, movie, half, ts = json.loads(raw)
            events.append({"type": kind, "movie_id": int(movie), "ts": ts,
                           **({"rating": half / 2} if kind == "rating" else {})})
        return events


class TrendingCache:
    """The head of each trending window (its ``depth`` first movies) as a process keeps it,
    read again from Redis about every ``check_every`` seconds: a window sums dozens of buckets
    (about 10 ms of Redis for 16 partitions when most movies had events), and a list that is a
    second old is as good. The read runs in a thread of its own, while requests go on with the
    list the process has; only the first request of a window waits for it. A filtered trending
    list is drawn from that head."""

    def __init__(self, counters: CounterStore, check_every: float = 1.0, depth: int = 1000):
        self.counters = counters
        self.check_every = check_every
        self.depth = depth
        self._lists: dict[str, tuple[float, tuple[tuple[int, float], ...]]] = {}
        self._reading: set[str] = set()
        self._lock = threading.Lock()

    def get(self, window: str) -> tuple[tuple[int, float], ...]:
        """The movies of ``window`` with their events, most first."""
        read = self._lists.get(window)
        if read is not None and time.monotonic() - read[0] < self.check_every:
            return read[1]
        if read is None:
            with self._lock:  # the first request of the window waits for it
                if window not in self._lists:
                    self._read(window)
                return self._lists[window][1]
        with self._lock:
            if window in self._reading:
                return read[1]
            self._reading.add(window)
        threading.Thread(target=self._read_in_background, args=(window,), daemon=True).start()
        return read[1]

    def _read(self, window: str) -> None:
        started = time.monotonic()
        self._lists[window] = (started, self.counters.trending(window, time.time(), self.depth))

    def _read_in_background(self, window: str) -> None:
        try:
            self._read(window)
        except Exception:  # noqa: BLE001 - the next request tries again; this one keeps the list
            log.warning("trending movies of %s not read again", window, exc_info=True)
        finally:
            with self._lock:
                self._reading.discard(window)
