"""Reads of the live counters the Lua script keeps (per movie, per user, per taste cluster)
and of a user's event log, each in as few round trips as it can take."""
from __future__ import annotations

import heapq
import json
from dataclasses import dataclass

import redis

from shared.recsys.strategies import ClusterCounters, ClusterReads
from shared.store.keys import Keys


@dataclass(frozen=True)
class MovieStats:
    n_ratings: int
    half_star_sum: int
    n_favourites: int

    @property
    def mean_rating(self) -> float | None:
        return self.half_star_sum / 2 / self.n_ratings if self.n_ratings else None


def _ranked(rows) -> tuple[tuple[int, float], ...]:
    return tuple((int(member), float(score)) for member, score in rows)


class CounterStore:
    def __init__(self, client: redis.Redis, keys: Keys):
        self.redis = client
        self.keys = keys

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
