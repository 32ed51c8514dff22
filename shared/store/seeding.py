"""Build a version's cluster counters over every user in bulk, not user by user.

Placing a user with ratings.lua's ``assign`` moves each of their entries into the counters as
a delta that merge.lua folds: right for the few users a worker places, but placing every user
that way sends every rating of the store through the scripts, which keeps Redis busy for
minutes at 25 M ratings. A seeding places users instead (``seed``: a cluster for each who has
none under the version, and their entries as they are at that instant), adds their entries up
here with numpy, and folds the totals, a few per cluster and movie, through merge.lua at the
end, in calls small enough to leave Redis room between them. The counters are sums, so the
totals and the deltas of the events that come after each user is placed add up to the same
counters in whatever order they are folded.

A seeding starts from a version without counters or placed users (a user placed earlier is
left as they are, and counted as they were): a seeding that died half-way placed users whose
entries it never folded, so its version's counters are dropped before it is seeded again.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from shared.store.deltas import totals_source
from shared.store.ratings import RatingStore, Seeded

# How many (cluster, movie) totals one merge.lua call folds: a bounded step for Redis, which
# serves other clients between the calls.
TOTALS_PER_CALL = 5000
# How many rows of added-up entries are kept before they are added up again (and at least
# twice as many as the last time: a cluster and movie a row, there may be millions of them).
ROWS_BEFORE_REDUCING = 2_000_000


class ClusterTotals:
    """Per cluster and movie, the ratings, half stars and favourites of the users placed in
    the cluster; per cluster, its users."""

    def __init__(self):
        self._parts: list[pd.DataFrame] = []
        self._rows = 0
        self._reduced_rows = 0  # after the last reduction: twice as many before the next
        self.sizes: dict[int, int] = {}

    def add(self, seeded: Seeded) -> None:
        for cluster, users in zip(*np.unique(seeded.clusters, return_counts=True)):
            self.sizes[int(cluster)] = self.sizes.get(int(cluster), 0) + int(users)
        rows = pd.DataFrame({
            "cluster": np.repeat(seeded.clusters, seeded.numbers),
            "movie_id": seeded.movies,
            "ratings": (seeded.halves > 0).astype(np.int64),
            "half_stars": seeded.halves,
            "favourites": seeded.favourites.astype(np.int64)})
        self._parts.append(self._reduced(rows))
        self._rows += len(self._parts[-1])
        if self._rows > max(ROWS_BEFORE_REDUCING, 2 * self._reduced_rows):
            self._parts = [self.totals()]
            self._rows = self._reduced_rows = len(self._parts[0])

    def totals(self) -> pd.DataFrame:
        """cluster, movie_id, ratings, half_stars, favourites: one row per pair with any."""
        if not self._parts:
            return pd.DataFrame(columns=["cluster", "movie_id", "ratings", "half_stars",
                                         "favourites"], dtype=np.int64)
        return self._reduced(pd.concat(self._parts, ignore_index=True))

    @staticmethod
    def _reduced(rows: pd.DataFrame) -> pd.DataFrame:
        return rows.groupby(["cluster", "movie_id"], sort=True, as_index=False).sum()


def total_bodies(version: str, totals: pd.DataFrame, sizes: dict[int, int],
                 home_of) -> list[tuple[int, str]]:
    """The totals as merge.lua deltas of ``version``, ``(home partition, JSON)``, at most
    ``TOTALS_PER_CALL`` pairs each; a cluster's size goes with its first."""
    bodies = []
    by_cluster = dict(tuple(totals.groupby("cluster", sort=True)))
    for cluster in sorted(set(sizes) | {int(c) for c in by_cluster}):
        rows = by_cluster.get(cluster, totals.iloc[:0])
        values = rows[["movie_id", "ratings", "half_stars", "favourites"]].to_numpy(np.int64)
        for start in range(0, max(len(values), 1), TOTALS_PER_CALL):
            chunk = values[start:start + TOTALS_PER_CALL].tolist()
            change = {"sizes": {str(cluster): sizes.get(cluster, 0)} if start == 0 else {},
                      "clusters": {str(cluster): {str(m): [n, s, f] for m, n, s, f in chunk}}}
            bodies.append((home_of(cluster), json.dumps(
                {"movies": {}, "versions": {version: change}}, separators=(",", ":"))))
    return bodies


class Seeding:
    """Seed ``version``'s counters: :meth:`place` users, batch after batch, then :meth:`finish`."""

    def __init__(self, ratings: RatingStore, version: str):
        self.ratings = ratings
        self.version = version
        self.placed = 0
        self._totals = ClusterTotals()

    def place(self, assignments: dict[int, int]) -> bool:
        """Place the users of ``assignments`` (user -> cluster) who have no cluster under the
        version yet; False when the version is no longer counted (nothing was placed)."""
        seeded = self.ratings.seed(self.version, assignments)
        if seeded is None:
            return False
        self._totals.add(seeded)
        self.placed += len(seeded.users)
        return True

    def finish(self) -> int:
        """Fold the totals of the users placed into the version's counters; returns the
        merge.lua calls it took."""
        bodies = total_bodies(self.version, self._totals.totals(), self._totals.sizes,
                              self.ratings.keys.partition_of)
        return self.ratings.deltas.fold_totals(totals_source(self.version), bodies)
