"""The two statistics the report uses: nearest-rank percentiles and a median, nan when empty."""
from __future__ import annotations

import math
import statistics


def pct(values, q: float) -> float:
    """The q-th percentile (nearest rank); nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, min(len(ordered), math.ceil(q / 100 * len(ordered)))) - 1]


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else math.nan
