"""Moving a store of the first layout (every key under ``{prefix}``) to the partitioned one.

The global keys (catalogue, models, counters over all users, schedule) kept their names; what
moves is each user's data, into their partition: their hash and log (``DUMP``/``RESTORE``, so
a cluster's nodes take them as well as one Redis), their entries in the per-user hashes and
sets, their cluster under each version, the inbox and the dead letters. Derived keys (live
views, cached lists) are dropped, not moved: the next read makes them again.

Every step copies, then deletes what it copied, so a run that stopped half-way is resumed by
running it again; the store carries a mark saying a migration is under way, which the
services refuse, until the last step writes the partitioned layout's mark.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial

import redis

from shared.store.counted_versions import CountedVersions
from shared.store.keys import LAYOUT, Keys, LayoutOneKeys

BATCH = 500
Progress = Callable[[str, int], None]  # (step, items done since the last call)


def layout_mark(client: redis.Redis, prefix: str) -> dict | None:
    text = client.get(Keys(prefix).layout)
    return None if text is None else json.loads(text)


def begin(client: redis.Redis, prefix: str, partitions: int) -> Keys:
    """Mark the store as being migrated (or find the mark of a run that stopped): the keys of
    its partitioned layout."""
    mark_key = Keys(prefix).layout
    client.set(mark_key, json.dumps({"layout": LAYOUT, "partitions": partitions,
                                     "migrating": True}), nx=True)
    mark = json.loads(client.get(mark_key))
    return Keys(prefix, int(mark["partitions"]))


def finish(client: redis.Redis, keys: Keys) -> None:
    client.set(keys.layout, json.dumps({"layout": LAYOUT, "partitions": keys.partitions}))


def _scan_set(client: redis.Redis, key: str) -> Iterator[list[bytes]]:
    """The members of a set in batches, each deleted once the caller has moved it."""
    while True:
        members = client.srandmember(key, BATCH)
        if not members:
            return
        yield members
        client.srem(key, *members)


def move_users(client: redis.Redis, keys: Keys, progress: Progress) -> int:
    """Each user's hash and log into their partition; their live view and cached lists
    dropped; the user added to their partition's set. Returns users moved."""
    old, moved = LayoutOneKeys(keys.prefix), 0
    for members in _scan_set(client, old.users):
        users = [m.decode() for m in members]
        with client.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.dump(old.user(user))
                pipe.dump(old.user_log(user))
            dumps = pipe.execute()
        with client.pipeline(transaction=False) as pipe:
            for index, user in enumerate(users):
                for dumped, name in zip(dumps[2 * index:2 * index + 2], ("user", "user_log")):
                    if dumped is not None:
                        pipe.restore(getattr(keys, name)(user), 0, dumped, replace=True)
                pipe.sadd(keys.users(keys.partition_of(user)), user)
            pipe.execute()
        with client.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.delete(old.user(user), old.user_log(user), old.user_live(user),
                            old.recommendations_cache(user))
            pipe.execute()
        moved += len(users)
        progress("users", len(users))
    return moved


def split_hash(client: redis.Redis, keys: Keys, old_key: str,
               new_key: Callable[[int], str]) -> int:
    """A hash user_id -> value into the partitions' hashes ``new_key(p)``; fields moved."""
    moved = 0
    while True:
        cursor, fields = client.hscan(old_key, 0, count=BATCH)
        if not fields:
            client.delete(old_key)
            return moved
        parts: dict[int, dict] = {}
        for user, value in fields.items():
            parts.setdefault(keys.partition_of(user), {})[user] = value
        with client.pipeline(transaction=False) as pipe:
            for partition, mapping in parts.items():
                pipe.hset(new_key(partition), mapping=mapping)
            pipe.execute()
        client.hdel(old_key, *fields)
        moved += len(fields)


def move_list(client: redis.Redis, keys: Keys, old_key: str, new_key: Callable[[int], str],
              user_of: Callable[[bytes], int]) -> int:
    """A list into the partitions' lists ``new_key(p)``, each item by the partition of
    ``user_of(item)``, in order; items moved. An item copied twice (a run that stopped
    between the copy and the trim) is an event applied once all the same."""
    moved = 0
    while True:
        items = client.lrange(old_key, 0, BATCH - 1)
        if not items:
            return moved
        parts: dict[int, list[bytes]] = {}
        for item in items:
            parts.setdefault(keys.partition_of(user_of(item)), []).append(item)
        with client.pipeline(transaction=False) as pipe:
            for partition, chunk in parts.items():
                pipe.rpush(new_key(partition), *chunk)
            pipe.ltrim(old_key, len(items), -1)
            pipe.execute()
        moved += len(items)


def _event_user(item: bytes) -> int:
    return int(json.loads(item)[1])


def _dead_letter_user(entry: bytes) -> int:
    return _event_user(json.loads(entry)["items"][0].encode())


def migrate(client: redis.Redis, prefix: str, partitions: int,
            progress: Progress = lambda step, done: None) -> dict[str, int]:
    """Move a first-layout store under ``prefix`` to the partitioned layout; what moved, by
    kind. Idempotent: on a store already moved it moves nothing."""
    old = LayoutOneKeys(prefix)
    mark = layout_mark(client, prefix)
    if mark is not None and not mark.get("migrating"):
        if mark.get("layout") != LAYOUT:
            raise ValueError(f"the store has layout {mark.get('layout')!r}, "
                             f"unknown to this release")
        return {}
    keys = begin(client, prefix, partitions)
    moved = {"users": move_users(client, keys, progress)}
    for name in ("user_counts", "deleted_users", "user_revisions"):
        moved[name] = split_hash(client, keys, getattr(old, name), getattr(keys, name))
        progress(name, moved[name])
    versions = {v.decode() for v in client.zrange(keys.versions, 0, -1)}
    for found in client.scan_iter(match=old.assignments("*"), count=1000):
        versions.add(found.decode()[len(old.base) + 3:-len(":assign")])
    moved["assignments"] = 0
    for version in sorted(versions):
        moved["assignments"] += split_hash(client, keys, old.assignments(version),
                                           partial(keys.assignments, version))
    progress("assignments", moved["assignments"])
    moved["inbox"] = move_list(client, keys, old.inbox, keys.inbox, _event_user)
    moved["dead_letters"] = move_list(client, keys, old.dead_letters, keys.dead_letters,
                                      _dead_letter_user)
    progress("events", moved["inbox"] + moved["dead_letters"])
    sequence = int(client.get(old.user_revision_sequence) or 0)
    with client.pipeline(transaction=False) as pipe:
        for partition in range(keys.partitions):
            # revisions go on from the old sequence: none is given twice
            pipe.set(keys.user_revision_sequence(partition), sequence, nx=True)
        pipe.execute()
    active = client.get(keys.active_version)
    if active is not None:
        CountedVersions(client, keys).count(active.decode())
    # the event ids of the de-duplication window do not say whose events they were: dropped
    # (an event sent again is still applied at most once: an equal ts changes nothing)
    client.delete(old.applied_events, old.inbox_draining, old.user_revision_sequence,
                  keys.building_version)
    finish(client, keys)
    return moved
