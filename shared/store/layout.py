"""The store's layout mark: how its keys are laid out, fixed when it is first written.

Every process reads it before it touches the data, and refuses a store it does not know the
layout of: one written by an earlier release (every key under one hash tag, or only the users'
data partitioned) is moved to the partitioned layout by ``movierec migrate``; one written by a
newer release is left alone.
"""
from __future__ import annotations

import json
import logging

import redis

from shared.store.client import StoreError
from shared.store.keys import LAYOUT, Keys, LayoutOneKeys, LayoutTwoKeys

log = logging.getLogger(__name__)


class LayoutError(Exception):
    """The store's layout is not the one this release reads and writes."""


def store_keys(client: redis.Redis, prefix: str, partitions: int) -> Keys:
    """The keys of the store under ``prefix``: as its layout mark says, or, for a new store,
    with ``partitions`` partitions (the mark is then written, once for all processes). When
    Redis does not answer (an API starting before it), the keys of ``partitions`` partitions,
    which MOVIEREC_PARTITIONS must then name as the store's."""
    mark_key = Keys(prefix).layout
    try:
        mark = client.get(mark_key)
    except StoreError as exc:
        log.warning("the store's layout is unknown (%s): taking %d partitions", exc, partitions)
        return Keys(prefix, partitions)
    if mark is None:
        if holds_layout_one(client, prefix):
            raise LayoutError(
                "the store was written by an earlier release of movierec (every key under one "
                "hash tag): stop the API and the workers, then run `movierec migrate`")
        client.set(mark_key, json.dumps({"layout": LAYOUT, "partitions": partitions}), nx=True)
        mark = client.get(mark_key)
    layout = json.loads(mark)
    if layout.get("migrating"):
        raise LayoutError("the store is being moved to the partitioned layout, or a move "
                          "stopped half-way: run `movierec migrate` (again) until it says done")
    if isinstance(layout.get("layout"), int) and layout["layout"] < LAYOUT:
        raise LayoutError(
            f"the store was written by an earlier release of movierec (layout "
            f"{layout['layout']}): stop the API and the workers, then run `movierec migrate`")
    if layout.get("layout") != LAYOUT:
        raise LayoutError(f"the store has layout {layout.get('layout')!r}, which this release of "
                          f"movierec does not know (it reads layout {LAYOUT}): use the release "
                          f"that wrote it")
    return Keys(prefix, int(layout["partitions"]))


def holds_layout_one(client: redis.Redis, prefix: str) -> bool:
    """Whether the store holds users, events or a catalogue in the first layout."""
    old, catalogue = LayoutOneKeys(prefix), LayoutTwoKeys(prefix)
    return any(client.exists(key) for key in (old.users, old.inbox, old.dead_letters,
                                              catalogue.movies, catalogue.movie_counts))
