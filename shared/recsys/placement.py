"""When a user the last clustering did not see is placed in a taste cluster, and from how many of
their ratings.

The softmax classifier (seed 000) places such a user once they have ``min_ratings`` ratings,
and again each time their number of ratings has grown by the factor ``growth`` since: at 5,
10, 20, 40... ratings with the defaults. A placement reads all of the user's ratings, so
placing on every change reads about n ratings per new rating at n ratings, a cost that grows
with the history; with ``growth`` g > 1 a user's placements read at most g / (g - 1) ratings per
rating over their whole history, however long it is. What the later placement costs in cluster
agreement and list quality is measured in docs/live-benchmark.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Placement:
    """``min_ratings``: the ratings a user needs to be placed at all. ``growth``: the factor by
    which their number of ratings grows between two placements; 1 places them on every change
    of that number."""

    min_ratings: int = 5
    growth: float = 2.0

    def __post_init__(self):
        if self.min_ratings < 1:
            raise ValueError(f"min_ratings must be at least 1, got {self.min_ratings}")
        if not self.growth >= 1:
            raise ValueError(f"growth must be at least 1, got {self.growth}")

    def placed_from(self, n_ratings: int) -> int:
        """How many ratings a user with ``n_ratings`` was last placed from: 0 below
        ``min_ratings``, else the largest step of ``min_ratings``, ``min_ratings * growth``...
        (rounded up, at least one more each step) not above ``n_ratings``."""
        if n_ratings < self.min_ratings:
            return 0
        if self.growth == 1:
            return n_ratings
        step = self.min_ratings
        while True:
            following = max(step + 1, math.ceil(step * self.growth))
            if following > n_ratings:
                return step
            step = following

    def due(self, before: int, after: int) -> bool:
        """Whether a user whose number of ratings went from ``before`` to ``after`` is to be
        placed (again) now."""
        placed = self.placed_from(after)
        return placed > 0 and placed != self.placed_from(before)
