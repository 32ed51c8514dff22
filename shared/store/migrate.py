"""Moving a store of an earlier layout to the partitioned one.

The first layout kept every key under ``{prefix}``; the second partitioned the users' data
only. What moves:

- from the first layout, each user's data, into their partition: their hash and log
  (``DUMP``/``RESTORE``, so a cluster's nodes take them as well as one Redis), their entries
  in the per-user hashes and sets, their cluster under each version, the inbox and the dead
  letters. Derived keys (live views, cached lists) are dropped, not moved: the next read
  makes them again;
- from both, the data over all users, into the partitions of its movies and clusters: the
  catalogue, the per-movie counters, each version's cluster counters (with a copy of its
  shrinkage and priors in each partition holding its clusters), and the deltas the second
  layout had not merged yet, split by the partition they move; and each version's array
  chunks, into the partitions of their numbers.

The model pointers and manifests, schedule, locks and limits keep their names.

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
from shared.store.keys import LAYOUT, Keys, LayoutOneKeys, LayoutTwoKeys

BATCH = 500
Progress = Callable[[str, int], None]  # (step, items done since the last call)


def layout_mark(client: redis.Redis, prefix: str) -> dict | None:
    text = client.get(Keys(prefix).layout)
    return None if text is None else json.loads(text)


def begin(client: redis.Redis, prefix: str, partitions: int) -> Keys:
    """Mark the store as being migrated (or find the mark of a run that stopped): the keys of
    its partitioned layout (with the partitions of the second layout, when it is one)."""
    mark_key, mark = Keys(prefix).layout, layout_mark(client, prefix)
    if mark is None or not mark.get("migrating"):
        partitions = int(mark["partitions"]) if mark else partitions
        client.set(mark_key, json.dumps({"layout": LAYOUT, "partitions": partitions,
                                         "migrating": True}), nx=mark is None)
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
    """A hash by user, movie or cluster into the partitions' hashes ``new_key(p)``, each field
    by the partition of the id it names; fields moved."""
    moved = 0
    while True:
        cursor, fields = client.hscan(old_key, 0, count=BATCH)
        if not fields:
            client.delete(old_key)
            return moved
        parts: dict[int, dict] = {}
        for an_id, value in fields.items():
            parts.setdefault(keys.partition_of(an_id), {})[an_id] = value
        with client.pipeline(transaction=False) as pipe:
            for partition, mapping in parts.items():
                pipe.hset(new_key(partition), mapping=mapping)
            pipe.execute()
        client.hdel(old_key, *fields)
        moved += len(fields)


def split_sorted_set(client: redis.Redis, keys: Keys, old_key: str,
                     new_key: Callable[[int], str]) -> int:
    """A sorted set of movies into the partitions' sorted sets ``new_key(p)``, as
    :func:`split_hash`; members moved."""
    moved = 0
    while True:
        members = client.zrange(old_key, 0, BATCH - 1, withscores=True)
        if not members:
            return moved
        parts: dict[int, dict] = {}
        for movie, score in members:
            parts.setdefault(keys.partition_of(movie), {})[movie] = score
        with client.pipeline(transaction=False) as pipe:
            for partition, mapping in parts.items():
                pipe.zadd(new_key(partition), mapping)
            pipe.execute()
        client.zrem(old_key, *(movie for movie, _ in members))
        moved += len(members)


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


def split_delta(keys: Keys, delta: dict) -> dict[int, dict]:
    """A delta of the second layout (every counter in one) as ratings.lua now records it: by
    the partition of the movie or cluster each change moves."""
    parts: dict[int, dict] = {}

    def part(an_id) -> dict:
        return parts.setdefault(keys.partition_of(an_id), {"movies": {}, "versions": {}})

    for movie, change in delta["movies"].items():
        part(movie)["movies"][movie] = change
    for version, changes in delta["versions"].items():
        for kind in ("sizes", "clusters"):
            for cluster, change in changes[kind].items():
                versions = part(cluster)["versions"]
                versions.setdefault(version, {"sizes": {}, "clusters": {}})[kind][cluster] = change
    return parts


def move_deltas(client: redis.Redis, keys: Keys) -> int:
    """The deltas of the second layout not merged yet, split by the partition they move (each
    partition's list rewritten in one transaction), the events they applied counted in their
    partition; every partition of counters then knows what the old merge had merged. Returns
    the deltas split."""
    old = LayoutTwoKeys(keys.prefix)
    merged = {int(p): int(seq) for p, seq in client.hgetall(old.merged_deltas).items()}
    moved = 0
    for partition in range(keys.partitions):
        entries = client.lrange(keys.deltas(partition), 0, -1)
        if not any(entry.split(b" ", 1)[1].startswith(b"{") for entry in entries):
            continue
        kept, applied = [], 0
        for entry in entries:
            seq, body = entry.split(b" ", 1)
            if not body.startswith(b"{"):
                kept.append(entry)
            elif int(seq) > merged.get(partition, 0):
                delta = json.loads(body)
                applied += delta["applied"]
                kept += [b"%s %d %s" % (seq, home, json.dumps(part, separators=(",", ":")).encode())
                         for home, part in split_delta(keys, delta).items()]
                moved += 1
        with client.pipeline(transaction=True) as pipe:  # one partition: one slot
            pipe.delete(keys.deltas(partition))
            if kept:
                pipe.rpush(keys.deltas(partition), *kept)
            if applied:
                pipe.incrby(keys.events_applied(partition), applied)
            pipe.execute()
    if merged:
        with client.pipeline(transaction=False) as pipe:
            for home in range(keys.partitions):
                pipe.hset(keys.merged_deltas(home), mapping=merged)
            pipe.execute()
        client.delete(old.merged_deltas)
    return moved


CLUSTER_KEYS = {"mean": "cluster_means", "fav": "cluster_favourites", "n": "cluster_counts",
                "sum": "cluster_sums"}


def move_version_counters(client: redis.Redis, keys: Keys) -> int:
    """Each version's cluster counters into their clusters' partitions, with a copy of the
    version's shrinkage and priors in each; keys moved."""
    old = LayoutTwoKeys(keys.prefix)
    found: dict[str, list[list[str]]] = {}
    for name in client.scan_iter(match=old.version_keys, count=1000):
        version, *rest = name.decode()[len(old.base) + 3:].split(":")
        found.setdefault(version, []).append(rest)
    moved = 0
    for version, names in sorted(found.items()):
        clusters = {int(c) for c in client.hkeys(old.cluster_sizes(version))}
        clusters |= {int(rest[1]) for rest in names if rest[0] == "c"}
        copies = [(old.version_params(version), keys.version_params),
                  (old.movie_priors(version), keys.movie_priors)]
        for old_key, new_key in copies:
            dumped = client.dump(old_key)
            if dumped is not None:
                for home in {keys.partition_of(c) for c in clusters}:
                    client.restore(new_key(version, home), 0, dumped, replace=True)
                client.delete(old_key)
                moved += 1
        for rest in names:
            if rest[0] == "c":
                old_key = f"{old.base}:v:{version}:{':'.join(rest)}"
                dumped = client.dump(old_key)
                if dumped is not None:
                    client.restore(getattr(keys, CLUSTER_KEYS[rest[2]])(version, rest[1]), 0,
                                   dumped, replace=True)
                    client.delete(old_key)
                    moved += 1
        moved += bool(split_hash(client, keys, old.cluster_sizes(version),
                                 partial(keys.cluster_sizes, version)))
    return moved


def move_model_chunks(client: redis.Redis, keys: Keys) -> int:
    """Each version's array chunks into the partitions of their numbers; chunks moved."""
    old, moved = LayoutTwoKeys(keys.prefix), 0
    for name in list(client.scan_iter(match=old.model_chunks, count=1000)):
        version, index = name.decode()[len(old.base) + len(":model:"):].split(":npz:")
        dumped = client.dump(name)
        if dumped is not None:
            client.restore(keys.model_chunk(version, int(index)), 0, dumped, replace=True)
            client.delete(name)
            moved += 1
    return moved


def move_data_over_all_users(client: redis.Redis, keys: Keys,
                             progress: Progress) -> dict[str, int]:
    """The catalogue, the counters over all users, the versions' cluster counters and arrays,
    from ``{prefix}`` into the partitions of their movies, clusters and chunks; what moved,
    by kind."""
    old = LayoutTwoKeys(keys.prefix)
    moved = {"movies": split_hash(client, keys, old.movies, keys.movies)}
    progress("movies", moved["movies"])
    moved["movie_counters"] = (split_hash(client, keys, old.movie_counts, keys.movie_counts)
                               + split_hash(client, keys, old.movie_sums, keys.movie_sums)
                               + split_sorted_set(client, keys, old.popular, keys.popular))
    applied = client.get(old.events_applied)
    if applied is not None:  # the sum over the partitions is what is read
        client.set(keys.events_applied(0), applied)
        client.delete(old.events_applied)
    moved["deltas"] = move_deltas(client, keys)
    moved["cluster_counters"] = move_version_counters(client, keys)
    moved["model_chunks"] = move_model_chunks(client, keys)
    progress("counters", moved["movie_counters"] + moved["cluster_counters"])
    return moved


def _event_user(item: bytes) -> int:
    return int(json.loads(item)[1])


def _dead_letter_user(entry: bytes) -> int:
    return _event_user(json.loads(entry)["items"][0].encode())


def migrate(client: redis.Redis, prefix: str, partitions: int,
            progress: Progress = lambda step, done: None) -> dict[str, int]:
    """Move a store of an earlier layout under ``prefix`` to the partitioned layout; what
    moved, by kind. Idempotent: on a store already moved it moves nothing."""
    old = LayoutOneKeys(prefix)
    mark = layout_mark(client, prefix)
    if mark is not None and not mark.get("migrating"):
        if mark.get("layout") == LAYOUT:
            return {}
        if mark.get("layout") != 2:
            raise ValueError(f"the store has layout {mark.get('layout')!r}, "
                             f"unknown to this release")
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
    moved.update(move_data_over_all_users(client, keys, progress))
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
