"""External ids to dense indices, in one place (after LensKit's ``Vocabulary``)."""
from __future__ import annotations

import numpy as np

# Ids up to this bound are looked up in a table (one gather, a dozen times faster than a
# binary search on every request); larger ids fall back to the search. 4 bytes per id value.
TABLE_MAX_ID = 1 << 22


class Vocabulary:
    """A fixed, sorted set of external integer ids and their dense indices 0..n-1."""

    def __init__(self, ids):
        self.ids = np.unique(np.asarray(ids, dtype=np.int64))
        self._table = None
        if len(self.ids) and 0 <= self.ids[0] and self.ids[-1] < TABLE_MAX_ID:
            # id i at slot i + 1; the first and last slots hold -1 for every id below 0 or
            # above the largest, so that one clipped gather looks up any id
            self._table = np.full(int(self.ids[-1]) + 3, -1, dtype=np.int32)
            self._table[self.ids + 1] = np.arange(len(self.ids), dtype=np.int32)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, ids, missing: str = "error") -> np.ndarray:
        """Dense indices of ``ids``; ``missing='negative'`` maps unknown ids to -1."""
        ids = np.asarray(ids, dtype=np.int64)
        if self._table is not None:
            # (an id so large that adding 1 wraps round turns negative: -1 too)
            pos = self._table.take(ids + 1, mode="clip").astype(np.int64)
            found = pos >= 0
        else:
            pos = np.searchsorted(self.ids, ids)
            pos_clipped = np.minimum(pos, len(self.ids) - 1) if len(self.ids) else pos
            found = ((pos < len(self.ids)) & (self.ids[pos_clipped] == ids) if len(self.ids)
                     else np.zeros(ids.shape, bool))
            pos = np.where(found, pos, -1)
        if missing == "negative":
            return pos
        if not np.all(found):
            unknown = ids[~found][:5].tolist()
            raise KeyError(f"unknown ids: {unknown}")
        return pos

    def id_of(self, index) -> np.ndarray:
        return self.ids[np.asarray(index)]

    def __contains__(self, external_id) -> bool:
        return bool(self.index([external_id], missing="negative")[0] >= 0)
