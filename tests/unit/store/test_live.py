"""The cache that hot-swaps the active model, and what it loads (fakeredis)."""
import dataclasses

import numpy as np
import pytest

from shared.recsys.served import LiveModel
from shared.store import live
from shared.store.keys import Keys
from shared.store.live import ModelCache
from shared.store.models import ModelStore


@pytest.fixture
def models(fake_redis, tiny_bundle):
    store = ModelStore(fake_redis, Keys("t"))
    store.save(tiny_bundle)
    return store


def test_cache_follows_the_active_pointer_without_restart(models, tiny_bundle):
    cache = ModelCache(models, check_every=0)
    assert cache.get() is None
    models.activate(tiny_bundle.version)
    first = cache.get()
    assert first.version == tiny_bundle.version and cache.get() is first  # loaded once
    models.save(dataclasses.replace(tiny_bundle, version="v2"))
    models.activate("v2")
    assert cache.get().version == "v2"


def test_a_version_that_cannot_load_leaves_the_served_one_in_place(models, tiny_bundle,
                                                                   monkeypatch):
    cache = ModelCache(models, check_every=0)
    models.activate(tiny_bundle.version)
    serving = cache.get()
    models.save(dataclasses.replace(tiny_bundle, version="broken"))
    models.redis.set(models.keys.model_chunk("broken", 0), b"not an npz")
    models.activate("broken")
    loads = []
    real_load = models.load
    monkeypatch.setattr(models, "load", lambda *a: loads.append(a) or real_load(*a))
    assert cache.get() is serving and cache.get() is serving
    assert len(loads) == 1  # not retried on every request
    assert "broken cannot be loaded" in cache.load_error
    monkeypatch.setattr(live, "RETRY_FAILED_SECONDS", 0)
    cache.get()
    assert len(loads) == 2
    models.activate(tiny_bundle.version)  # rolled back: nothing to load, no error left
    assert cache.get() is serving and cache.load_error is None


@pytest.mark.parametrize("deferred", [(), LiveModel.DEFERRABLE], ids=["eager", "deferred"])
def test_a_loaded_model_scores_like_the_fitted_one(models, tiny_bundle, deferred):
    models.activate(tiny_bundle.version)
    loaded = ModelCache(models, deferred=deferred).get()
    fitted = LiveModel(tiny_bundle)
    movies = loaded.movies.ids
    heavy = {int(m): 4.0 for m in movies[::2]}  # scored by item-kNN's ranked pass
    light = {int(movies[0]): 5.0, int(movies[3]): 2.0}
    for ratings in (heavy, light, {}):
        np.testing.assert_allclose(loaded.scores(ratings), fitted.scores(ratings), atol=1e-12)


def test_a_cache_of_the_classifier_alone_assigns_clusters(models, tiny_bundle):
    models.activate(tiny_bundle.version)
    full = ModelCache(models).get()
    classifier_only = ModelCache(models, components=("softmax",)).get()
    assert classifier_only.recommender is None and classifier_only.baseline is None
    movies = full.movies.ids
    for ratings in ({int(m): 4.0 for m in movies[:7]}, {int(m): 1.5 for m in movies[5:40:3]}):
        assert classifier_only.assign_cluster(ratings) == full.assign_cluster(ratings)


def test_a_slow_load_does_not_stretch_how_stale_a_served_version_may_be(models, tiny_bundle,
                                                                        monkeypatch):
    """The version served at any moment was active at most ``check_every`` seconds before:
    the clock starts at the read of the pointer, however long the load that follows takes."""
    clock = [100.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: clock[0])
    real_load = models.load

    def slow_load(*args):
        clock[0] += 0.8
        return real_load(*args)

    monkeypatch.setattr(models, "load", slow_load)
    models.activate(tiny_bundle.version)
    cache = ModelCache(models, check_every=1.0)
    assert cache.get().version == tiny_bundle.version  # pointer read at 100.0, loaded at 100.8
    models.save(dataclasses.replace(tiny_bundle, version="v2"))
    models.activate("v2")  # moves just after the read
    clock[0] = 101.05
    assert cache.get().version == "v2"


def test_a_rollback_to_the_replaced_version_switches_without_loading(models, tiny_bundle,
                                                                     monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: clock[0])
    cache = ModelCache(models, check_every=0, keep_replaced=600)
    models.activate(tiny_bundle.version)
    first = cache.get()
    models.save(dataclasses.replace(tiny_bundle, version="v2"))
    models.activate("v2")
    second = cache.get()
    loads = []
    real_load = models.load
    monkeypatch.setattr(models, "load", lambda *a: loads.append(a[0]) or real_load(*a))
    models.activate(tiny_bundle.version)  # the rollback
    assert cache.get() is first and loads == []
    models.activate("v2")  # and forward again: the one it replaced is kept in turn
    assert cache.get() is second and loads == []
    clock[0] += 601  # kept no longer
    models.activate(tiny_bundle.version)
    assert cache.get().version == tiny_bundle.version and loads == [tiny_bundle.version]


def test_without_keeping_the_replaced_version_a_rollback_loads_it(models, tiny_bundle,
                                                                  monkeypatch):
    cache = ModelCache(models, check_every=0)
    models.activate(tiny_bundle.version)
    cache.get()
    models.save(dataclasses.replace(tiny_bundle, version="v2"))
    models.activate("v2")
    cache.get()
    loads = []
    real_load = models.load
    monkeypatch.setattr(models, "load", lambda *a: loads.append(a[0]) or real_load(*a))
    models.activate(tiny_bundle.version)
    assert cache.get().version == tiny_bundle.version and loads == [tiny_bundle.version]
