"""A whole retrain with ``engine="spark"`` (local mode, a real JVM) on fakeredis: measured,
gated and published like a local one; a Spark failure half-way activates nothing."""
import fakeredis
import pytest

from shared.recsys.served import LiveModel
from shared.store.importer import import_folder
from shared.store.trainer_lock import TrainerLock
from tests.conftest import stores_on
from trainer.retrain import retrain

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tiny_data, tiny_bundle):
    from trainer.publish import publish

    stores = stores_on(fakeredis.FakeRedis(), "t", k_range=(3, 4), min_cluster_size=4,
                       holdout_split="random", spark_master="local[2]",
                       exploration_coverage=0.0)
    import_folder(tiny_data, stores.ratings, stores.catalogue, progress=False)
    publish(tiny_bundle, stores, shrink=5.0, progress=False)
    return stores


def test_a_retrain_on_spark_is_measured_gated_and_served(world, tiny_bundle):
    snapshot = world.ratings.snapshot()  # fakeredis lives in this process: Spark is given it
    bundle, _ = retrain(world, "test", snapshot, engine="spark", progress=False, model="svd")
    models = world.models
    assert models.active_version() == bundle.version != tiny_bundle.version
    manifest = models.manifest(bundle.version)
    assert manifest["engine"]["name"] == "spark" and manifest["gate"]["passed"]
    assert manifest["holdout"]["users_listed"] > 10
    assert manifest["holdout"]["ndcg_at_10"] > manifest["holdout"]["most_popular_ndcg_at_10"]
    live = LiveModel(models.load(bundle.version))
    user = int(live.users.ids[0])
    ratings = {movie: rating for movie, (rating, *_) in world.ratings.user_ratings(user).items()}
    assert len(live.ranked(ratings, 10)) == 10


def test_a_spark_failure_half_way_activates_nothing_and_frees_the_lock(world, tiny_bundle,
                                                                       monkeypatch):
    def rating_model_on_a_failing_executor(ratings, model):
        def lost(batches):
            raise RuntimeError("the executor was lost")
            yield  # a generator, as mapInPandas wants

        ratings.data.sparkSession.range(4).mapInPandas(lost, "id long").collect()

    monkeypatch.setattr("trainer.spark.fit.fit_rating_model", rating_model_on_a_failing_executor)
    with pytest.raises(Exception, match="the executor was lost"):
        retrain(world, "test", world.ratings.snapshot(), engine="spark", progress=False)
    assert world.models.active_version() == tiny_bundle.version
    assert world.models.versions() == [tiny_bundle.version]
    assert TrainerLock(world.redis, world.keys).holder() is None
