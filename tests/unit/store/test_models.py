import dataclasses
import io
import json
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.persist import ModelBundle, new_version
from shared.store.counted_versions import CountedVersions
from shared.store.keys import Keys
from shared.store.models import (
    LOCAL_HEADER_BYTES,
    READ_AHEAD_BYTES,
    ZIP_DIRECTORY_BYTES,
    ModelLoadError,
    ModelStore,
)


def assign_by_hand(client, keys, version, assignments):
    """Users' clusters under ``version``, written straight into their partitions."""
    for user, cluster in assignments.items():
        client.hset(keys.assignments(version, keys.partition_of(user)), user, cluster)


def assignment_keys(keys, version):
    return [keys.assignments(version, p) for p in range(keys.partitions)]


def test_save_load_activate_round_trip(fake_redis, tmp_path):
    X = sp.csr_matrix(np.array([[4.0, 0, 3.5], [0, 5.0, 1.0]]))
    base = BaselinePredictor().fit(X)
    store = ModelStore(fake_redis, Keys("t"), tmp_path)
    version = new_version(0)
    assert version == "19700101T000000000Z"
    store.save(ModelBundle(version, {"metrics": {"rmse": 0.9}}, {"baseline": base},
                           {"movie_ids": np.array([10, 20, 30])}))
    assert store.active_version() is None
    store.activate(version)
    assert store.active_version() == version and store.versions() == [version]
    bundle = store.load(version)
    assert bundle.manifest["metrics"] == {"rmse": 0.9}
    np.testing.assert_array_equal(bundle.arrays["movie_ids"], [10, 20, 30])
    np.testing.assert_array_equal(bundle.estimators["baseline"].score_users([1]),
                                  base.score_users([1]))
    on_disk = json.loads((tmp_path / version / "manifest.json").read_text())
    assert on_disk["version"] == version and "baseline" in on_disk["components"]
    with np.load(tmp_path / version / "model.npz", allow_pickle=False) as npz:
        assert "arrays/movie_ids" in npz.files


def test_activating_makes_every_partition_count_the_version_and_the_one_being_built(
        fake_redis, tiny_bundle):
    store = ModelStore(fake_redis, Keys("t", 4))
    counted = CountedVersions(fake_redis, store.keys)
    for version in ("v1", "v2", "v3"):
        store.save(dataclasses.replace(tiny_bundle, version=version))
    store.activate("v1")
    assert [counted.of(p) for p in range(4)] == [{"v1": 0}] * 4
    store.activate("v2")  # v1 is no longer counted
    assert [counted.of(p) for p in range(4)] == [{"v2": 0}] * 4
    counted.count("v3", for_ms=60_000)  # a trainer builds v3 beside the active one
    fake_redis.set(store.keys.building_version, "v3")
    store.activate("v1")  # a rollback meanwhile keeps counting the version being built
    assert [set(counted.of(p)) for p in range(4)] == [{"v1", "v3"}] * 4
    assert counted.of(0)["v1"] == 0 and counted.of(0)["v3"] > 0


def test_unknown_versions_are_refused(fake_redis):
    store = ModelStore(fake_redis, Keys("t"))
    with pytest.raises(KeyError):
        store.activate("nope")
    assert not fake_redis.keys("*:model:counted")  # no partition counts it
    with pytest.raises(ModelLoadError, match="nope is not stored"):
        store.load("nope")
    assert store.manifest("nope") is None


def test_counters_of_a_version_are_prepared_and_dropped(fake_redis):
    keys = Keys("t")
    store = ModelStore(fake_redis, keys)
    assign_by_hand(fake_redis, keys, "v1", {7: 2, 8: 1})  # left from an earlier life of v1
    fake_redis.hset(keys.cluster_counts("v1", 2), 10, 1)
    assert keys.partition_of(7) != keys.partition_of(8)
    movie_ids = np.arange(1, 12_001)
    priors = np.linspace(1.0, 4.0, len(movie_ids))
    clusters = [0, 1, 2, 13]  # 0 and 13 share a partition
    homes = {keys.partition_of(c) for c in clusters}
    assert len(homes) == 3 and keys.partition_of(0) == keys.partition_of(13)
    store.prepare_counters("v1", shrink=5.0, mu=3.5, movie_ids=movie_ids, priors=priors,
                           clusters=np.array(clusters))
    assert not fake_redis.exists(*assignment_keys(keys, "v1"))
    assert not fake_redis.exists(keys.cluster_counts("v1", 2))
    for partition in range(keys.partitions):  # a copy in each partition holding a cluster
        params = fake_redis.hgetall(keys.version_params("v1", partition))
        stored = fake_redis.hgetall(keys.movie_priors("v1", partition))
        if partition not in homes:
            assert params == {} and stored == {}, partition
            continue
        assert params == {b"shrink": b"5.0", b"mu": b"3.5"}, partition
        assert len(stored) == len(movie_ids)  # over more than one HSET
        assert float(stored[b"12000"]) == 4.0 and float(stored[b"1"]) == 1.0
    assert store.building_version() is None  # the trainer lock points the script at it
    assign_by_hand(fake_redis, keys, "v1", {7: 2, 8: 1})
    assign_by_hand(fake_redis, keys, "v2", {7: 0})
    fake_redis.set(keys.model_chunks("v1"), 1)
    for cluster in (1, 2):
        fake_redis.hset(keys.cluster_sizes("v1", keys.partition_of(cluster)), cluster, 1)
        fake_redis.zadd(keys.cluster_means("v1", cluster), {10: 3.0})
    fake_redis.hset(keys.version_params("v2", keys.partition_of(0)), "mu", 3)
    fake_redis.zadd(keys.cluster_favourites("v2", 0), {10: 1})
    neighbour = Keys("t:preview")  # a store whose prefix begins as this one's does
    fake_redis.hset(neighbour.cluster_counts("v1", 2), 10, 1)
    store.drop_counters("v1")
    assert not [k for k in fake_redis.keys() if b":v:v1:" in k and keys.is_partition_key(k)]
    assert fake_redis.exists(neighbour.cluster_counts("v1", 2))
    assert not fake_redis.exists(*assignment_keys(keys, "v1"))
    assert fake_redis.exists(keys.model_chunks("v1"),
                             keys.version_params("v2", keys.partition_of(0)),
                             keys.cluster_favourites("v2", 0),
                             keys.assignments("v2", keys.partition_of(7))) == 4


def saved(store, bundle, version):
    store.save(dataclasses.replace(bundle, version=version))
    assign_by_hand(store.redis, store.keys, version, {1: 0})  # a counter of it
    return version


def test_discarding_a_version_leaves_nothing_of_it(fake_redis, tiny_bundle, tmp_path):
    store = ModelStore(fake_redis, Keys("t"), tmp_path)
    saved(store, tiny_bundle, "v1")
    saved(store, tiny_bundle, "v2")
    store.activate("v2")
    with pytest.raises(ValueError, match="active"):
        store.discard("v2")
    store.discard("v1")
    assert store.versions() == ["v2"] and store.states() == {"v2": "building"}
    assert not fake_redis.keys("*v1*") and not (tmp_path / "v1").exists()
    assert fake_redis.keys("*v2*")
    assert (tmp_path / "v2").is_dir()


def test_versions_left_building_by_a_dead_trainer_are_the_abandoned_ones(fake_redis, tiny_bundle):
    store = ModelStore(fake_redis, Keys("t"))
    for version in ("dead", "live", "old"):
        saved(store, tiny_bundle, version)
    fake_redis.hset(store.keys.version_states, "old", "published")
    fake_redis.set(store.keys.building_version, "live")  # its trainer still renews it
    assert store.discard_abandoned() == ["dead"]
    assert store.versions() == ["live", "old"]


def test_pruning_keeps_the_newest_and_the_active_and_only_the_active_counters(fake_redis,
                                                                              tiny_bundle):
    store = ModelStore(fake_redis, Keys("t"))
    for version in ("v1", "v2", "v3", "v4"):
        saved(store, tiny_bundle, version)
    store.activate("v1")  # rolled back to the oldest
    assert store.prune(keep=2) == ["v2"]
    assert store.versions() == ["v1", "v3", "v4"]
    assert fake_redis.exists(*assignment_keys(store.keys, "v1")) == 1
    assert not fake_redis.exists(*assignment_keys(store.keys, "v3"),
                                 *assignment_keys(store.keys, "v4"))


def test_a_version_is_stored_in_chunks_and_a_half_saved_one_is_swept(fake_redis, tiny_bundle,
                                                                     monkeypatch):
    from shared.recsys import persist
    from shared.store import models as models_module

    monkeypatch.setattr(models_module, "ARRAY_CHUNK_BYTES", 100_000)
    store = ModelStore(fake_redis, Keys("t"))
    store.save(tiny_bundle)
    count = int(fake_redis.get(store.keys.model_chunks(tiny_bundle.version)))
    blob, _ = persist.bundle_to_npz(tiny_bundle)
    assert count == -(-len(blob) // 100_000) > 1
    assert max(fake_redis.strlen(store.keys.model_chunk(tiny_bundle.version, i))
               for i in range(count)) == 100_000
    loaded = store.load(tiny_bundle.version)
    np.testing.assert_array_equal(loaded.arrays["labels"], tiny_bundle.arrays["labels"])

    fake_redis.set(store.keys.model_chunk("dead", 0), b"part")  # a save killed half-way
    fake_redis.set(store.keys.model_manifest("dead"), "{}")
    fake_redis.hset(store.keys.version_states, "dead", "building")
    with pytest.raises(ModelLoadError, match="dead is not stored"):
        store.load("dead")  # chunks without their count are no version
    # neither was published and no trainer builds them: both are a dead run's
    assert set(store.discard_abandoned()) == {tiny_bundle.version, "dead"}
    assert not fake_redis.keys("{t}:model:dead*")
    assert not fake_redis.keys(f"{{t}}:model:{tiny_bundle.version}*")


def test_a_version_is_read_from_redis_only_as_far_as_what_is_built_needs(
        fake_redis, tiny_bundle, monkeypatch):
    from shared.recsys import persist
    from shared.recsys.served import LiveModel
    from shared.store import models as models_module

    monkeypatch.setattr(models_module, "ARRAY_CHUNK_BYTES", 100_000)  # members span chunks
    store = ModelStore(fake_redis, Keys("t", 4))
    store.save(tiny_bundle)
    trips = []  # the bytes of each round trip to Redis for the version's arrays
    read = models_module.ChunkedBytes._read

    def counted(self, pieces):
        got = read(self, pieces)
        trips.append(sum(len(piece) for piece in got))
        return got

    monkeypatch.setattr(models_module.ChunkedBytes, "_read", counted)
    blob, _ = persist.bundle_to_npz(tiny_bundle)
    with zipfile.ZipFile(io.BytesIO(blob)) as npz:
        size = {i.filename: i.compress_size for i in npz.infolist()}

    def share(*prefixes):  # the bytes of the members whose name starts with one of these
        return sum(n for name, n in size.items() if name.startswith(prefixes))

    headers = sum(LOCAL_HEADER_BYTES + len(name) for name in size)
    opening = min(ZIP_DIRECTORY_BYTES, len(blob))

    workers = store.load(tiny_bundle.version, components=("softmax",))
    assert set(workers.estimators) == {"softmax"}
    assert len(trips) == 2  # the zip's directory, then the members
    assert sum(trips) <= opening + share("estimators/softmax/", "arrays/") + headers
    assert trips[1] < len(blob) / 4

    trips.clear()
    api = store.load(tiny_bundle.version, deferred=LiveModel.DEFERRABLE)
    assert not set(LiveModel.DEFERRABLE) & set(api.estimators)
    assert len(trips) == 2
    assert trips[1] <= len(blob) - share("estimators/recommender/", "estimators/similar/")

    trips.clear()
    built = api.deferred["recommender"]()  # on first use: each member's header, then data
    recommender = [n for name, n in size.items() if name.startswith("estimators/recommender/")]
    assert len(trips) <= 2 * len(recommender)
    assert sum(recommender) <= sum(trips) <= sum(recommender) + READ_AHEAD_BYTES * len(trips)
    ratings = {int(m): 4.0 for m in tiny_bundle.arrays["movie_ids"][:5]}
    np.testing.assert_allclose(LiveModel(dataclasses.replace(
        api, estimators={**api.estimators, "recommender": built}, deferred={})).scores(ratings),
        LiveModel(tiny_bundle).scores(ratings))


def test_a_deferred_estimator_of_a_version_discarded_since_it_was_loaded_is_a_load_error(
        fake_redis, tiny_bundle):
    from shared.recsys.served import LiveModel

    store = ModelStore(fake_redis, Keys("t"))
    store.save(tiny_bundle)
    loaded = store.load(tiny_bundle.version, deferred=LiveModel.DEFERRABLE)
    store.discard(tiny_bundle.version)
    with pytest.raises(ModelLoadError, match=f"{tiny_bundle.version} cannot be loaded"):
        LiveModel(loaded).predict({}, [1])


def test_preparing_a_versions_counters_drops_every_key_an_earlier_life_left(tiny_data,
                                                                            tiny_bundle):
    """By name, not by a scan: every key the scripts made for the version is among them."""
    import fakeredis

    from shared.recsys.served import LiveModel
    from tests.conftest import load_and_publish

    stores = load_and_publish(fakeredis.FakeRedis(), "t", tiny_data, tiny_bundle)
    keys, version = stores.keys, tiny_bundle.version
    live = LiveModel(tiny_bundle)

    def of_version() -> set[bytes]:
        return set(stores.redis.scan_iter(match=keys.version_pattern(version)))

    made = of_version()
    assert any(b":c:" in name for name in made) and any(name.endswith(b":assign") for name in made)
    stores.models.prepare_counters(version, shrink=5.0, mu=live.baseline.global_mean_,
                                   movie_ids=live.movies.ids,
                                   priors=live.baseline.global_mean_ + live.baseline.item_bias_,
                                   clusters=live.clusters)
    left = of_version()
    assert left and all(name.endswith((b":params", b":prior")) for name in left)
