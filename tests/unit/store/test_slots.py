"""Every key a script is given hashes to one Redis Cluster slot: the scripts stay legal on a
cluster (no CROSSSLOT), whatever user, version or cluster their keys name. A partition's keys
share the slot of its tag; the global keys the slot of ``{prefix}``."""
import inspect

import fakeredis
from redis.crc import key_slot

from shared.store.cache import ComputedList, RecommendationCache
from shared.store.deltas import MERGE_SCRIPT_KEYS
from shared.store.keys import Keys, partition_tag
from shared.store.ratings import RATINGS_SCRIPT_KEYS, user_state_call

VERSION = "20261206T000000000Z"
# the methods whose keys live in a partition: those of a user, and those taking the partition
USER_METHODS = {"user", "user_live", "user_log", "recommendations_cache"}


def slot(key: str) -> int:
    return key_slot(key.encode())


def global_keys(keys: Keys) -> dict[str, str]:
    """Each global key name Keys makes, by method, with sample ids for the methods that take
    some."""
    names = {}
    for name, member in inspect.getmembers(type(keys)):
        if (name.startswith("_") or name in USER_METHODS
                or name in ("partition_templates", "global_templates", "version_pattern",
                            "partition_of")):
            continue
        if isinstance(member, property):
            names[name] = getattr(keys, name)
        elif inspect.isfunction(member):
            params = list(inspect.signature(member).parameters)[1:]
            if "partition" in params:
                continue
            names[name] = member(keys, *[VERSION if p == "version" else 7_000_001
                                         for p in params])
    return names


def partition_keys(keys: Keys, partition: int) -> dict[str, str]:
    """Each key name of ``partition`` Keys makes, by method."""
    names = {}
    for name, member in inspect.getmembers(type(keys)):
        if (not inspect.isfunction(member) or name.startswith("_")
                or name.endswith("_templates")):
            continue
        params = list(inspect.signature(member).parameters)[1:]
        if "partition" in params:
            names[name] = member(keys, *[VERSION if p == "version" else partition
                                         for p in params])
    return names


def test_every_global_key_name_and_template_is_in_the_prefix_slot():
    keys = Keys("movierec")
    prefix_slot = slot("{movierec}")
    names = global_keys(keys)
    assert len(names) >= 30 and "movie_counts" in names and "cluster_counts" in names
    assert "users" not in names and "inbox_draining" in names and "layout" in names
    assert {name for name, key in names.items() if slot(key) != prefix_slot} == set()
    for name, template in keys.global_templates().items():
        filled = template.replace("%s", "12345")
        assert slot(filled) == prefix_slot, name


def test_every_key_name_and_template_of_a_partition_is_in_the_partitions_slot():
    keys = Keys("movierec")
    slots = set()
    for partition in range(keys.partitions):
        own = slot(partition_tag("movierec", partition, keys.partitions))
        names = partition_keys(keys, partition)
        assert set(RATINGS_SCRIPT_KEYS) <= set(names) and "assignments" in names
        assert {name for name, key in names.items() if slot(key) != own} == set()
        for name, template in keys.partition_templates(partition).items():
            assert slot(template.replace("%s", "12345")) == own, name
        users = [u for u in range(1, 2000) if keys.partition_of(u) == partition][:20]
        assert users
        for user in users:
            assert {slot(getattr(keys, name)(user)) for name in USER_METHODS} == {own}
        slots.add(own)
    assert len(slots) == keys.partitions and slot("{movierec}") not in slots


def test_the_keys_each_script_is_given_share_a_slot():
    keys = Keys("other-prefix", 8)
    for partition in range(keys.partitions):
        # ratings.lua on a partition: its KEYS, and what its templates name for the users of
        # the partition (the only users it is given) and any version
        ratings = [getattr(keys, name)(partition) for name in RATINGS_SCRIPT_KEYS]
        users = [u for u in range(1, 500) if keys.partition_of(u) == partition][:5]
        assert users
        filled = [template % (VERSION if name == "assignments" else user)
                  for name, template in keys.partition_templates(partition).items()
                  for user in users]
        named = [getattr(keys, name)(user) for name in USER_METHODS for user in users]
        assert len({slot(key) for key in ratings + filled + named}) == 1, partition
    # merge.lua: its KEYS and its templates filled, in the global slot
    merge = [getattr(keys, name) for name in MERGE_SCRIPT_KEYS]
    merge += [template.replace("%s", "17") for template in keys.global_templates().values()]
    merge += [template % ((VERSION,) * template.count("%s"))
              for template in keys.global_templates().values()]
    assert {slot(key) for key in merge} == {slot("{other-prefix}")}
    # user_state.lua and cache.lua: a user's keys, in their partition's slot
    for user in (1, 42, 7_000_001):
        own = slot(partition_tag("other-prefix", keys.partition_of(user), keys.partitions))
        state, _ = user_state_call(keys, user, "v|personal|10", VERSION)
        cache, _ = RecommendationCache(fakeredis.FakeRedis(), keys)._keep_call(
            ComputedList(user, b"r1", "v|personal|10", b"body", 60))
        assert {slot(key) for key in state} == {own}
        assert {slot(key) for key in cache} == {own}
