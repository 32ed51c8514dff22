"""The pipeline fitted on Spark (local mode, a real JVM) against the local engine on the same
snapshot: the same ids, the same baseline and ranker, clusters and classifier of the same
shapes, and a version that loads and serves like any other."""
import numpy as np
import pytest

from shared.config import Settings
from shared.data import movielens
from shared.recsys.evaluation.holdout import split_snapshot
from shared.recsys.persist import bundle_from_npz, bundle_to_npz
from shared.recsys.served import LiveModel
from trainer.pipeline import TrainerBundleConfig, fit_pipeline
from trainer.spark.engine import SparkEngine

pytestmark = pytest.mark.slow
GRID = {"l2": [50.0, 200.0], "half_life": [None, 180.0], "popularity_exponent": [0.0, 0.2]}
CONFIG = TrainerBundleConfig(k_range=(3, 4), min_cluster_size=4, model="blend", ranker_grid=GRID,
                             exploration_coverage=0.5)


@pytest.fixture(scope="module")
def engine(spark):
    with SparkEngine(Settings(spark_master="local[2]")) as spark_engine:
        assert spark_engine.spark is spark  # the session this process runs
        yield spark_engine


@pytest.fixture(scope="module")
def tiny(tiny_data):
    data = movielens.load(tiny_data)
    return data.ratings.assign(favourite=data.ratings["rating"] >= 4), data.movies


@pytest.fixture(scope="module")
def both(engine, tiny):
    """Both engines' versions of the tiny set; k scanned on 100 of its 150 users, as more
    than ``K_SCAN_USERS`` users are."""
    snapshot, movies = tiny
    frame = engine.snapshot(_stores_with_partitions(4), snapshot)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("shared.recsys.models.clustering.K_SCAN_USERS", 100)
        return (fit_pipeline(snapshot, movies, CONFIG, progress=False),
                engine.fit(frame, movies, CONFIG, progress=False))


def _stores_with_partitions(n):
    class Keys:
        partitions = n

    class Stores:
        keys = Keys()
    return Stores()


def test_the_ranker_is_chosen_on_the_local_validation_split(both):
    local, spark = both
    here, there = local.manifest["ranker_tuning"], spark.manifest["ranker_tuning"]
    assert there["split"] == "temporal" and there["chosen"] == here["chosen"]
    assert len(there["validation"]) == len(here["validation"]) == 8
    for mine, theirs in zip(there["validation"], here["validation"]):
        assert {k: mine[k] for k in GRID} == {k: theirs[k] for k in GRID}
        assert mine["ndcg"] == pytest.approx(theirs["ndcg"], abs=1e-6)
    assert len({row["ndcg"] for row in there["validation"]}) > 1  # the points differ


def test_the_exploration_gives_what_the_local_one_gives(both):
    local, spark = both
    here, there = local.estimators["exploration"], spark.estimators["exploration"]
    assert there.coverage_before_ == pytest.approx(here.coverage_before_)
    assert there.coverage_after_ == pytest.approx(here.coverage_after_)
    assert here.coverage_after_ > here.coverage_before_
    n_users = len(local.arrays["user_ids"])
    pairs = {(u, m, r) for u in range(n_users) for m, r in zip(*here.for_user(u))}
    theirs = {(u, m, r) for u in range(n_users) for m, r in zip(*there.for_user(u))}
    assert len(pairs) == len(theirs) > 0
    assert len(pairs & theirs) >= 0.9 * len(pairs)  # ties of cost may go either way


def test_the_ids_the_baseline_and_the_ranker_are_the_local_ones(both):
    local, spark = both
    for name in ("user_ids", "movie_ids"):
        np.testing.assert_array_equal(spark.arrays[name], local.arrays[name])
    here, there = local.estimators["baseline"], spark.estimators["baseline"]
    assert there.global_mean_ == pytest.approx(here.global_mean_)
    np.testing.assert_allclose(there.user_bias_, here.user_bias_, atol=1e-9)
    np.testing.assert_allclose(there.item_bias_, here.item_bias_, atol=1e-9)
    here, there = local.estimators["ranker"], spark.estimators["ranker"]
    np.testing.assert_array_equal(there.items_, here.items_)
    np.testing.assert_array_equal(there.candidates_, here.candidates_)
    np.testing.assert_allclose(there.weights_, here.weights_, rtol=1e-3, atol=1e-5)
    for ranker in (here, there):  # no version keeps the training matrix
        assert getattr(ranker, "user_feedback_", np.zeros((0, 1))).shape[0] == 0


def test_clusters_classifier_and_factors_have_the_local_shapes(both):
    local, spark = both
    labels, n_users = spark.arrays["labels"], len(spark.arrays["user_ids"])
    sizes = np.bincount(labels)
    assert labels.shape == (n_users,) and sizes.min() > 0
    assert len(sizes) == 1 or sizes.min() >= CONFIG.min_cluster_size
    assert spark.manifest["k"]["chosen"] in (3, 4)
    assert len(spark.manifest["k"]["silhouettes"]) == 2
    classifier = spark.estimators["softmax"]
    n_movies = len(spark.arrays["movie_ids"])
    assert classifier.coef_.shape == (len(sizes), n_movies)
    assert spark.manifest["metrics"]["softmax_training_accuracy"] > 0.5
    blend, local_blend = spark.estimators["recommender"], local.estimators["recommender"]
    np.testing.assert_allclose(blend.weights_, local_blend.weights_, atol=1e-6)
    mf, local_mf = blend.members_[0], local_blend.members_[0]
    np.testing.assert_allclose(mf.item_factors_, local_mf.item_factors_, atol=1e-8)
    assert mf.user_factors_.shape == (n_users, local_mf.user_factors_.shape[1])
    assert spark.manifest["engine"] == {"name": "spark", "master": "local[2]"}
    assert local.manifest["engine"] == {"name": "local"}


def test_the_spark_version_stores_loads_and_serves_the_local_list(both, tiny):
    local, spark = both
    snapshot, _ = tiny
    blob, manifest = bundle_to_npz(spark)
    loaded = LiveModel(bundle_from_npz(spark.version, blob, manifest))
    user = int(spark.arrays["user_ids"][7])
    mine = snapshot[snapshot["user_id"] == user]
    ratings = dict(zip(mine["movie_id"].tolist(), mine["rating"].tolist()))
    served = [movie for movie, *_ in loaded.ranked(ratings, 10)]
    assert len(served) == 10 and not set(served) & set(ratings)
    assert served == [movie for movie, *_ in LiveModel(local).ranked(ratings, 10)]
    assert loaded.assign_clusters([ratings])[0] in set(spark.arrays["labels"].tolist())
    predicted = loaded.scores(ratings)
    assert predicted.shape == (len(spark.arrays["movie_ids"]),) and np.isfinite(predicted).all()
    assert 2.0 < float(np.median(predicted)) < 4.5


@pytest.mark.parametrize("split", ["temporal", "random"])
def test_the_spark_split_holds_out_the_ratings_a_local_retrain_holds_out(engine, tiny, split):
    snapshot, _ = tiny
    frame = engine.snapshot(_stores_with_partitions(3), snapshot)
    train, held = engine.split(frame, 0.1, split)
    local_train, local_held = split_snapshot(snapshot, 0.1, split)

    def pairs(frame):
        return set(zip(frame["user_id"].tolist(), frame["movie_id"].tolist()))
    assert pairs(held.toPandas()) == pairs(local_held)
    assert pairs(train.toPandas()) == pairs(local_train)
