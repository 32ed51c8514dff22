"""The key schema: names that existing Redis data is stored under, the partitions users are
spread over, and the script templates."""
from collections import Counter

import numpy as np
import pytest
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from shared.store.keys import Keys, partition_of, partition_tag, partitions_of

KEYS = Keys("movierec")


def test_key_names_stay_those_existing_data_is_stored_under():
    # spelled out on purpose: renaming any of these strands the data of a running deployment
    assert [KEYS.catalogue_revision, KEYS.meta, KEYS.layout, KEYS.inbox_draining(0),
            KEYS.inbox_draining(3), KEYS.active_version, KEYS.building_version, KEYS.versions,
            KEYS.version_states, KEYS.trainer_lock,
            KEYS.retrained_at_events, KEYS.retrain_slot("every:60:7"), KEYS.workers,
            KEYS.drain_seconds, KEYS.rate_limit_counter("key:k", "5/1s", 60)] == [
        "{movierec}:movies:rev", "{movierec}:meta", "{movierec}:layout",
        "{movierec}:inbox:draining:0", "{movierec}:inbox:draining:3",
        "{movierec}:model:active", "{movierec}:model:building",
        "{movierec}:model:versions", "{movierec}:model:states", "{movierec}:trainer:lock",
        "{movierec}:model:events", "{movierec}:schedule:every:60:7",
        "{movierec}:workers", "{movierec}:drain:seconds",
        "{movierec}:ratelimit:key:k:5/1s:60"]
    assert [KEYS.model_manifest("v1"), KEYS.model_chunks("v1")] == [
        "{movierec}:model:v1:manifest", "{movierec}:model:v1:chunks"]
    # a version's chunks, spread over the partitions (chunk 2 in partition 3)
    assert KEYS.partition_of(2) == 3
    assert [KEYS.model_chunk("v1", 2), KEYS.model_chunk_pattern("v1")] == [
        "{movierec:p3}:model:v1:npz:2", "{movierec:p[0-9]*}:model:v1:npz:*"]
    # the data over all users, in the partitions of its movies and clusters: with 16
    # partitions, partition 3's tag is unsalted, partition 13's salted (.22); cluster 3 lives
    # in partition 13
    assert [KEYS.movies(3), KEYS.merged_deltas(3), KEYS.movie_counts(3), KEYS.movie_sums(3),
            KEYS.popular(3), KEYS.events_applied(3), KEYS.movies(13)] == [
        "{movierec:p3}:movies", "{movierec:p3}:deltas:merged", "{movierec:p3}:stats:n",
        "{movierec:p3}:stats:sum", "{movierec:p3}:popular", "{movierec:p3}:stats:applied",
        "{movierec:p13.22}:movies"]
    assert KEYS.partition_of(3) == 13
    assert [KEYS.version_params("v1", 3), KEYS.movie_priors("v1", 3), KEYS.cluster_sizes("v1", 3),
            KEYS.cluster_favourites("v1", 3), KEYS.cluster_counts("v1", 3),
            KEYS.cluster_sums("v1", 3), KEYS.cluster_means("v1", 3),
            KEYS.version_pattern("v1")] == [
        "{movierec:p3}:v:v1:params", "{movierec:p3}:v:v1:prior", "{movierec:p3}:v:v1:sizes",
        "{movierec:p13.22}:v:v1:c:3:fav", "{movierec:p13.22}:v:v1:c:3:n",
        "{movierec:p13.22}:v:v1:c:3:sum", "{movierec:p13.22}:v:v1:c:3:mean",
        "{movierec:p[0-9]*}:v:v1:*"]


def test_a_movies_and_a_clusters_keys_carry_their_partitions_tag():
    for an_id in (0, 1, 2, 7, 12345, 7_000_001, 2**31 - 1):
        p = partition_of(an_id, 16)
        tag = "{" + partition_tag("movierec", p, 16) + "}"
        assert [KEYS.movies(p), KEYS.movie_counts(p), KEYS.movie_sums(p), KEYS.popular(p),
                KEYS.cluster_sizes("v1", p)] == [
            f"{tag}:movies", f"{tag}:stats:n", f"{tag}:stats:sum", f"{tag}:popular",
            f"{tag}:v:v1:sizes"]
        assert [KEYS.cluster_favourites("v1", an_id), KEYS.cluster_counts("v1", an_id),
                KEYS.cluster_sums("v1", an_id), KEYS.cluster_means("v1", an_id)] == [
            f"{tag}:v:v1:c:{an_id}:fav", f"{tag}:v:v1:c:{an_id}:n",
            f"{tag}:v:v1:c:{an_id}:sum", f"{tag}:v:v1:c:{an_id}:mean"]
        # a user, a movie and a cluster of one number share a partition: one hash for all
        assert KEYS.user(an_id).startswith(tag)


def test_a_users_keys_and_a_partitions_keys_carry_the_partitions_tag():
    # spelled out on purpose, as above: with 16 partitions, user 7 lives in partition 5, whose
    # tag is salted (.3) so that its slot lies in the sixth sixteenth of the slots
    assert KEYS.partitions == 16 and KEYS.partition_of(7) == 5
    assert [KEYS.user(7), KEYS.user_live(7), KEYS.user_log(7),
            KEYS.recommendations_cache(7)] == [
        "{movierec:p5.3}:u:7", "{movierec:p5.3}:u:7:live", "{movierec:p5.3}:u:7:log",
        "{movierec:p5.3}:rec:7"]
    assert [KEYS.users(0), KEYS.user_counts(0), KEYS.deleted_users(0), KEYS.inbox(0),
            KEYS.dead_letters(0), KEYS.user_revisions(0), KEYS.user_revision_sequence(0),
            KEYS.applied_events(0), KEYS.counted_versions(0), KEYS.assignments("v1", 0),
            KEYS.deltas(0), KEYS.delta_sequence(0)] == [
        "{movierec:p0.62}:users", "{movierec:p0.62}:nratings", "{movierec:p0.62}:deleted",
        "{movierec:p0.62}:inbox", "{movierec:p0.62}:inbox:dead", "{movierec:p0.62}:urev",
        "{movierec:p0.62}:urev:seq", "{movierec:p0.62}:applied",
        "{movierec:p0.62}:model:counted", "{movierec:p0.62}:v:v1:assign",
        "{movierec:p0.62}:deltas", "{movierec:p0.62}:deltas:seq"]
    assert KEYS.users(3) == "{movierec:p3}:users"  # no salt needed: p3 falls in its share
    # every partition's keys, under the tag partition_tag gives
    for p in range(KEYS.partitions):
        tag = "{" + partition_tag("movierec", p, 16) + "}"
        assert [KEYS.users(p), KEYS.user_counts(p), KEYS.deleted_users(p), KEYS.inbox(p),
                KEYS.dead_letters(p), KEYS.user_revisions(p), KEYS.user_revision_sequence(p),
                KEYS.applied_events(p), KEYS.counted_versions(p), KEYS.assignments("v1", p),
                KEYS.deltas(p), KEYS.delta_sequence(p)] == [
            f"{tag}:users", f"{tag}:nratings", f"{tag}:deleted", f"{tag}:inbox",
            f"{tag}:inbox:dead", f"{tag}:urev", f"{tag}:urev:seq", f"{tag}:applied",
            f"{tag}:model:counted", f"{tag}:v:v1:assign", f"{tag}:deltas", f"{tag}:deltas:seq"]
    for user in (1, 2, 7, 12345, 7_000_001):
        tag = "{" + partition_tag("movierec", partition_of(user, 16), 16) + "}"
        assert [KEYS.user(user), KEYS.user_live(user), KEYS.user_log(user),
                KEYS.recommendations_cache(user)] == [
            f"{tag}:u:{user}", f"{tag}:u:{user}:live", f"{tag}:u:{user}:log",
            f"{tag}:rec:{user}"]


def test_the_partition_count_is_part_of_the_name():
    assert Keys("movierec", 4).user(7) == (
        "{" + partition_tag("movierec", partition_of(7, 4), 4) + "}:u:7")
    assert Keys("t", 1).users(0) == "{" + partition_tag("t", 0, 1) + "}:users"
    assert Keys("t", 1).partition_of(123456) == 0


@pytest.mark.parametrize("partitions", [1, 3, 16, 64])
def test_each_partition_tags_slot_lies_in_its_share_of_the_slots(partitions):
    for prefix in ("movierec", "t"):
        slots = []
        for p in range(partitions):
            tag = partition_tag(prefix, p, partitions)
            slot = key_slot(tag.encode())
            share = (p * REDIS_CLUSTER_HASH_SLOTS // partitions,
                     (p + 1) * REDIS_CLUSTER_HASH_SLOTS // partitions)
            assert share[0] <= slot < share[1], (prefix, p, tag, slot, share)
            # the keys built on the tag hash to that slot
            keys = Keys(prefix, partitions)
            assert key_slot(keys.users(p).encode()) == slot
            slots.append(slot)
        assert len(set(slots)) == partitions


@pytest.mark.parametrize("partitions", [3, 16, 64])
def test_users_spread_evenly_over_the_partitions(partitions):
    counts = Counter(partition_of(user, partitions) for user in range(1, 10_001))
    assert set(counts) == set(range(partitions))
    mean = 10_000 / partitions
    assert all(0.8 * mean <= n <= 1.2 * mean for n in counts.values()), counts


@pytest.mark.parametrize("partitions", [1, 3, 16, 64])
def test_partitions_of_many_users_are_those_of_each(partitions):
    users = np.array([0, 1, 2, 7, 99, 10_000, 2**31 - 1, 2**32 + 5, 2**40 + 7, 2**53 - 1],
                     dtype=np.int64)
    users = np.concatenate([users, np.arange(1, 5001, dtype=np.int64)])
    found = partitions_of(users, partitions)
    assert found.tolist() == [partition_of(int(u), partitions) for u in users]
    assert all(0 <= p < partitions for p in found.tolist())
    assert partition_of("7", partitions) == partition_of(7, partitions)


def test_each_template_filled_is_the_name_its_method_gives():
    keys = Keys("t")
    for partition in (0, 5, 15):
        templates = keys.partition_templates(partition)
        assert set(templates) == {"user", "user_live", "user_log", "recommendations_cache",
                                  "assignments", "version_params", "movie_priors",
                                  "cluster_sizes", "cluster_favourites", "cluster_counts",
                                  "cluster_sums", "cluster_means", "trending"}
        user = next(u for u in range(1, 1000) if keys.partition_of(u) == partition)
        cluster = next(c for c in range(0, 1000) if keys.partition_of(c) == partition)
        for name, template in templates.items():
            arity = template.count("%s")
            assert template.count("%") == arity, name
            if name == "trending":  # filled with a bucket of the partition's own
                assert arity == 1 and template % "h493" == keys.trending(partition, "h493")
            elif name in ("assignments", "version_params", "movie_priors", "cluster_sizes"):
                assert arity == 1 and template % "v9" == getattr(keys, name)("v9", partition), name
            elif name.startswith("cluster_"):  # filled with the partition's own clusters
                assert arity == 2, name
                assert template % ("v9", cluster) == getattr(keys, name)("v9", cluster), name
            else:
                assert arity == 1 and template % user == getattr(keys, name)(user), name


def test_the_patterns_over_the_partitions_name_this_stores_keys_only():
    other = Keys("movierec:preview")  # a prefix that begins as this one's does
    assert KEYS.is_partition_key(KEYS.cluster_counts("v1", 3).encode())
    assert KEYS.is_partition_key(KEYS.model_chunk("v1", 2))
    assert not KEYS.is_partition_key(other.cluster_counts("v1", 3))
    assert not KEYS.is_partition_key(KEYS.model_manifest("v1"))  # global
