"""A retrain measured on held-out ratings and gated against the active version (fakeredis
runs the real scripts; the real pipeline on the tiny data set)."""
import fakeredis
import pytest

from shared.store.importer import import_folder
from tests.conftest import stores_on
from trainer.retrain import Rejected, retrain


@pytest.fixture(scope="module")
def world(tiny_data):
    stores = stores_on(fakeredis.FakeRedis(), "t", k_range=(3, 6), min_cluster_size=4)
    import_folder(tiny_data, stores.ratings, stores.catalogue, progress=False)
    return stores


def test_a_worse_version_is_stored_as_rejected_and_the_active_one_serves_on(world):
    models = world.models
    stages = []
    good, _ = retrain(world, report=stages.append, progress=False)
    assert stages[0] == "waiting for the trainer lock" and stages[-1] == "done"
    manifest = models.manifest(good.version)
    held_out = manifest["holdout"]
    assert abs(held_out["held_out"] - 0.1 * 6000) < 100 and held_out["users_listed"] > 50
    assert 0 < held_out["ndcg_at_10"] <= 1 and 0.3 < held_out["rmse"] < 1.5
    assert manifest["gate"] == {"against": None, "tolerance": 0.10, "passed": True,
                                "reasons": [], "forced": False}
    assert set(manifest["stage_seconds"]) >= {"snapshot", "fitting", "publishing",
                                              "evaluating on the held-out ratings"}

    with pytest.raises(Rejected, match="nDCG@10 .* below the active version's") as rejected:
        retrain(world, ranker="most-popular", progress=False)
    worse = rejected.value.version
    assert models.active_version() == good.version
    assert models.states()[worse] == "rejected"
    assert models.manifest(worse)["gate"]["passed"] is False

    forced, _ = retrain(world, ranker="most-popular", force=True, progress=False)
    assert models.active_version() == forced.version
    assert models.manifest(forced.version)["gate"]["forced"] is True
