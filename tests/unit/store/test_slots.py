"""Every key a script is given hashes to one Redis Cluster slot: the scripts stay legal on a
cluster (no CROSSSLOT), whatever user, version or cluster their keys name. A partition's keys
share the slot of its tag; the global keys the slot of ``{prefix}``."""
import inspect

import fakeredis
from redis.crc import key_slot

from shared.store.cache import ComputedList, RecommendationCache
from shared.store.counters import trending_buckets
from shared.store.deltas import MERGE_SCRIPT_KEYS
from shared.store.keys import Keys, partition_tag
from shared.store.ratings import RATINGS_SCRIPT_KEYS, user_state_call

VERSION = "20261206T000000000Z"
# the methods whose keys live in the partition of the id they take: a user's, a cluster's and
# a model chunk's (those taking the partition itself are found by their parameter)
USER_METHODS = {"user", "user_live", "user_log", "recommendations_cache"}
CLUSTER_METHODS = {"cluster_favourites", "cluster_counts", "cluster_sums", "cluster_means"}
ID_METHODS = USER_METHODS | CLUSTER_METHODS | {"model_chunk"}
# what builds no key: patterns matching keys of every partition, templates, the hash
NO_KEY = {"partition_templates", "version_pattern", "model_chunk_pattern", "partition_of",
          "is_partition_key"}


def slot(key: str) -> int:
    return key_slot(key.encode())


def global_keys(keys: Keys) -> dict[str, str]:
    """Each global key name Keys makes, by method, with sample ids for the methods that take
    some."""
    names = {}
    for name, member in inspect.getmembers(type(keys)):
        if name.startswith("_") or name in ID_METHODS or name in NO_KEY:
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


def ids_of(keys: Keys, partition: int, count: int, first: int = 0) -> list[int]:
    """The first ``count`` ids from ``first`` that live in ``partition``."""
    return [i for i in range(first, first + 100 * count * keys.partitions)
            if keys.partition_of(i) == partition][:count]


def filled(keys: Keys, partition: int, users: list[int], clusters: list[int]) -> list[str]:
    """The partition's templates, filled as the scripts on it fill them: with its users, any
    version, and its clusters."""
    out = []
    for name, template in keys.partition_templates(partition).items():
        if name in USER_METHODS:
            out += [template % user for user in users]
        elif template.count("%s") == 2:
            out += [template % (VERSION, cluster) for cluster in clusters]
        else:
            out.append(template % VERSION)
    return out


def test_every_global_key_name_is_in_the_prefix_slot():
    keys = Keys("movierec")
    prefix_slot = slot("{movierec}")
    names = global_keys(keys)
    assert len(names) >= 15 and "model_manifest" in names and "trainer_lock" in names
    assert "users" not in names and "inbox_draining" in names and "layout" in names
    # the data over all users is in the partitions now
    assert not {"movies", "movie_counts", "popular", "events_applied", "merged_deltas",
                "cluster_sizes", "cluster_counts", "version_params", "model_chunk"} & set(names)
    assert {name for name, key in names.items() if slot(key) != prefix_slot} == set()


def test_every_key_name_and_template_of_a_partition_is_in_the_partitions_slot():
    keys = Keys("movierec")
    slots = set()
    for partition in range(keys.partitions):
        own = slot(partition_tag("movierec", partition, keys.partitions))
        names = partition_keys(keys, partition)
        assert set(RATINGS_SCRIPT_KEYS) <= set(names) and "assignments" in names
        assert set(MERGE_SCRIPT_KEYS) <= set(names)
        assert {"movies", "version_params", "movie_priors", "cluster_sizes"} <= set(names)
        assert {name for name, key in names.items() if slot(key) != own} == set()
        for name, template in keys.partition_templates(partition).items():
            assert slot(template.replace("%s", "12345")) == own, name
        users = ids_of(keys, partition, 20, first=1)
        assert len(users) == 20
        for user in users:
            assert {slot(getattr(keys, name)(user)) for name in USER_METHODS} == {own}
        # a cluster's counters and a model chunk are in the partition of their number
        for an_id in ids_of(keys, partition, 20):
            assert {slot(getattr(keys, name)(VERSION, an_id)) for name in CLUSTER_METHODS} == {
                own}
            assert slot(keys.model_chunk(VERSION, an_id)) == own
        slots.add(own)
    assert len(slots) == keys.partitions and slot("{movierec}") not in slots


def test_the_keys_each_script_is_given_share_a_slot():
    keys = Keys("other-prefix", 8)
    for partition in range(keys.partitions):
        own = slot(partition_tag("other-prefix", partition, keys.partitions))
        users, clusters = ids_of(keys, partition, 5, first=1), ids_of(keys, partition, 5)
        assert users and clusters
        # ratings.lua on a partition: its KEYS, and what its templates name for the users of
        # the partition (the only users it is given) and any version
        ratings = [getattr(keys, name)(partition) for name in RATINGS_SCRIPT_KEYS]
        named = [getattr(keys, name)(user) for name in USER_METHODS for user in users]
        assert {slot(key) for key in ratings + named + filled(keys, partition, users, [])} == {
            own}, partition
        # merge.lua on a partition: its KEYS and its templates, filled with any version and
        # the clusters of the partition (the only ones its delta entries name)
        merge = [getattr(keys, name)(partition) for name in MERGE_SCRIPT_KEYS]
        named = [getattr(keys, name)(VERSION, cluster) for name in CLUSTER_METHODS
                 for cluster in clusters]
        merge += [keys.version_params(VERSION, partition), keys.movie_priors(VERSION, partition),
                  keys.cluster_sizes(VERSION, partition)]
        assert {slot(key) for key in merge + named + filled(keys, partition, [], clusters)} == {
            own}, partition
        # trending.lua on a partition: its scratch key and the buckets of any window
        trending = [keys.trending(partition, bucket) for bucket in
                    ("sum", *trending_buckets("24h", 1e9), *trending_buckets("7d", 1e9))]
        assert {slot(key) for key in trending} == {own}, partition
    # user_state.lua and cache.lua: a user's keys, in their partition's slot
    for user in (1, 42, 7_000_001):
        own = slot(partition_tag("other-prefix", keys.partition_of(user), keys.partitions))
        state, _ = user_state_call(keys, user, "v|personal|10", VERSION)
        cache, _ = RecommendationCache(fakeredis.FakeRedis(), keys)._keep_call(
            ComputedList(user, b"r1", "v|personal|10", b"body", 60))
        assert {slot(key) for key in state} == {own}
        assert {slot(key) for key in cache} == {own}
