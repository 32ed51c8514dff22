"""A retrain measured on held-out ratings and gated against the active version (fakeredis
runs the real scripts; the real pipeline on the tiny data set)."""
import fakeredis
import pytest

from shared.store.importer import import_folder
from tests.conftest import stores_on
from trainer.retrain import Rejected, retrain


def stores_with(data, **settings):
    stores = stores_on(fakeredis.FakeRedis(), "t", k_range=(3, 6), min_cluster_size=4,
                       **settings)
    import_folder(data, stores.ratings, stores.catalogue, progress=False)
    return stores


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A hash-chosen holdout (few users of a generated data set rate on both sides of an
    instant), on enough users (about 250 listed) for the gate to tell a most-popular ranker
    from the default beyond the noise of their means."""
    from shared.data.synthetic import generate

    data = tmp_path_factory.mktemp("gated")
    generate(data, 400, 500, 16_000, seed=1)
    return stores_with(data, holdout_split="random")


def test_a_worse_version_is_stored_as_rejected_and_the_active_one_serves_on(world):
    models = world.models
    stages = []
    good, _ = retrain(world, report=stages.append, progress=False)
    assert stages[0] == "waiting for the trainer lock" and stages[-1] == "done"
    manifest = models.manifest(good.version)
    held_out = manifest["holdout"]
    assert held_out["split"] == "random"
    assert abs(held_out["held_out"] - 0.1 * 16_000) < 200 and held_out["users_listed"] > 200
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


def test_a_version_measured_on_the_latest_ratings_serves_fitted_on_all_of_them(tiny_data):
    stores = stores_with(tiny_data)
    stages = []
    bundle, _ = retrain(stores, report=stages.append, progress=False)
    manifest = stores.models.manifest(bundle.version)
    snapshot = stores.ratings.snapshot()
    latest = snapshot.loc[snapshot["rating"] > 0, "ts"].quantile(0.9)
    assert manifest["holdout"]["split"] == "temporal"
    assert manifest["holdout"]["held_out"] == int(((snapshot["rating"] > 0)
                                                   & (snapshot["ts"] >= latest)).sum())
    assert manifest["data"]["ratings"] == int((snapshot["rating"] > 0).sum())  # every rating
    assert manifest["gate"]["passed"] is True
    assert stages.index("fitting") < stages.index("evaluating on the held-out ratings") \
        < stages.index("fitting on the whole snapshot") < stages.index("publishing")
    assert stores.models.active_version() == bundle.version
    # refitted with the k and the ranker's hyper-parameters the measured fit chose
    chosen, tuning = manifest["k"]["chosen"], manifest["ranker_tuning"]
    assert len(manifest["k"]["ks"]) > 1 and len(tuning["validation"]) > 1  # the measured scans
    assert manifest["config"]["k_range"] == [chosen, chosen]
    assert manifest["config"]["ranker_grid"] is None
    assert manifest["config"]["ranker_params"] == tuning["chosen"]
    assert len(manifest["clusters"]["before_fixing"]) == chosen
    served = bundle.estimators["ranker"].get_params()
    assert {name: served[name] for name in tuning["chosen"]} == tuning["chosen"]
    # and with the blend's weights it learned: each member is fitted once, on every rating
    blend = manifest["rating_model"]
    assert len(blend["weights"]) == len(blend["members"]) and blend["holdout_rmse"]
    fixed = [blend["intercept"], *blend["weights"]]
    assert manifest["config"]["model_params"] == {"fixed_weights": fixed}
    recommender = bundle.estimators["recommender"]
    assert [recommender.intercept_, *recommender.weights_] == fixed
    assert recommender.holdout_rmse_ is None

