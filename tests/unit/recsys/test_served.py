"""The live model and the cache that hot-swaps it (fakeredis)."""
import dataclasses

import numpy as np
import pytest

from shared.store.keys import Keys
from shared.store.models import ModelStore
from shared.recsys.models.item_knn import ItemKNN
from shared.recsys.served import LiveModel
from shared.store.live import ModelCache


@pytest.fixture
def models(fake_redis, tiny_bundle):
    store = ModelStore(fake_redis, Keys("t"))
    store.save(tiny_bundle)
    return store


def item_knn_of(model: LiveModel) -> ItemKNN:
    return next(m for m in model.recommender.members_ if isinstance(m, ItemKNN))


def test_cache_follows_the_active_pointer_without_restart(models, tiny_bundle):
    cache = ModelCache(models, check_every=0)
    assert cache.get() is None
    models.activate(tiny_bundle.version)
    first = cache.get()
    assert first.version == tiny_bundle.version and cache.get() is first  # loaded once
    models.save(dataclasses.replace(tiny_bundle, version="v2"))
    models.activate("v2")
    assert cache.get().version == "v2"


def test_warm_up_prepares_scoring_and_changes_no_score(models, tiny_bundle):
    models.activate(tiny_bundle.version)
    warm = ModelCache(models, warm_up=True).get()
    cold = ModelCache(models).get()
    knn = item_knn_of(warm)
    assert hasattr(knn, "_ranked_cache") and hasattr(knn, "_csc_cache")
    assert not hasattr(item_knn_of(cold), "_ranked_cache")
    movies = warm.movies.ids
    heavy = {int(m): 4.0 for m in movies[::2]}  # scored by the ranked pass
    light = {int(movies[0]): 5.0, int(movies[3]): 2.0}
    for ratings in (heavy, light):
        np.testing.assert_allclose(warm.scores(ratings), cold.scores(ratings), atol=1e-12)
    assert hasattr(item_knn_of(cold), "_ranked_cache")  # the heavy user took that path
