"""The served strategies as evaluation models: fitted by the trainer's pipeline, fed the inputs
the API reads, measured like every other model."""
import numpy as np
import pytest

from shared.recsys import strategies
from shared.recsys.evaluation import served as served_module
from shared.recsys.evaluation.accuracy import NO_ITEM
from shared.recsys.evaluation.harness import RESULT_KEYS, available, check_name, evaluate
from shared.recsys.evaluation.served import PublishedVersion, ServedSetup, served_names, strategy_of
from shared.recsys.evaluation.split import RandomSplit, UserSplit
from shared.recsys.pipeline import BundleConfig
from shared.recsys.placement import Placement
from shared.recsys.ratings import LiveRatings
from tests.unit.recsys.evaluation.synthetic import synthetic_ratings

PIPELINE = BundleConfig(k_range=(2, 4), min_cluster_size=3)
SETUP = ServedSetup(PIPELINE, Placement(min_ratings=5, growth=2))


@pytest.fixture(scope="module")
def data():
    return synthetic_ratings(n_users=80, n_movies=60, per_user=20)


@pytest.fixture(scope="module")
def random_version(data):
    return PublishedVersion(next(RandomSplit(0.8, 0).folds(data)), SETUP)


def test_every_served_strategy_is_a_model_name():
    assert served_names() == [f"served:{s}" for s in strategies.STRATEGIES]
    assert set(served_names()) <= set(available())
    assert strategy_of("served:cluster") == "cluster" and strategy_of(" Served:SVD ") == "svd"
    assert strategy_of("cluster") is None  # the registry's rating model of that name
    with pytest.raises(KeyError, match="served:hybrid"):
        strategy_of("served:magic")
    with pytest.raises(KeyError, match="served:cluster-ratings"):
        check_name("served:magic")
    check_name("served:cluster-ratings")


def test_served_models_need_the_services_setup(data):
    with pytest.raises(ValueError, match="ServedSetup"):
        evaluate(["served:cluster"], "random:0.8:0", data, progress=False)


@pytest.mark.parametrize("strategy", strategies.STRATEGIES)
def test_lists_never_hold_a_movie_the_user_was_shown(random_version, strategy):
    fold = random_version.fold
    rows = np.arange(fold.train.shape[0])
    ranked = random_version.lists(strategy, rows, 10)
    assert ranked.shape == (len(rows), 10)
    seen = fold.seen.toarray() != 0
    for row, items in zip(rows, ranked):
        items = items[items != NO_ITEM]
        assert not seen[row, items].any()
        assert len(set(items.tolist())) == len(items)


def test_a_training_user_reads_their_training_cluster_and_all_their_ratings(random_version):
    fold, model = random_version.fold, random_version.model
    for row in range(0, fold.train.shape[0], 7):
        ratings, cluster, joining = random_version._user(row)
        assert cluster == model.labels[row] and joining is None
        assert set(ratings) == set(fold.movies.ids[fold.train[row].indices].tolist())
        assert sorted(ratings.values()) == sorted(fold.train[row].data.tolist())


def test_a_test_row_is_served_as_its_own_user_so_only_training_users_are_explored(data):
    """Exploration is per user: a training row's user may be given movies, a new user of the
    ``users:`` protocol never (the version has not seen them)."""
    version = PublishedVersion(next(RandomSplit(0.8, 0).folds(data)), SETUP)
    fold = version.fold
    assert [version.user_id(row) for row in range(5)] == fold.users.ids[:5].tolist()
    new = PublishedVersion(next(UserSplit(0.7, 0).folds(data)), SETUP)
    ids = [new.user_id(row) for row in range(new.fold.known.shape[0])]
    assert ids == new.fold.known_users.ids.tolist()
    assert not (new.model.users.index(ids, missing="negative") >= 0).any()


def test_new_users_are_placed_by_the_classifier_once_they_have_enough_ratings(data):
    fold = next(UserSplit(0.7, 0).folds(data))
    version = PublishedVersion(fold, SETUP)
    every_change = PublishedVersion(fold, ServedSetup(PIPELINE, Placement(5, growth=1)))
    for row in range(fold.known.shape[0]):
        ratings, cluster, joining = version._user(row)
        # placed from the earliest 5 of 5 to 9 known ratings, as the workers place at 5, 10...
        assert 5 <= len(ratings) <= 10
        known, stamps = fold.known[row], fold.known_ts[row]
        earliest = np.argsort(stamps.data, kind="stable")[:5 if len(ratings) < 10 else 10]
        placed_from = LiveRatings(fold.movies.ids[known.indices[earliest]], known.data[earliest])
        assert cluster == version.model.assign_cluster(placed_from)
        assert joining.nnz == len(ratings)  # all of them join the cluster's counters
        assert every_change._user(row)[1] == version.model.assign_cluster(ratings)

    cautious = PublishedVersion(fold, ServedSetup(PIPELINE, Placement(min_ratings=1000)))
    rows = np.arange(fold.known.shape[0])
    popular = cautious.lists("cluster", rows, 10)
    for strategy in strategies.STRATEGIES:  # without a cluster the cluster strategies fall back
        if strategy != "personal":
            np.testing.assert_array_equal(cautious.lists(strategy, rows, 10), popular)
    # the top-N model needs no cluster: a new user's list is personal from the first rating
    personal = cautious.lists("personal", rows, 10)
    assert (personal != popular).any(axis=1).mean() > 0.5
    for row in rows:
        seen = set(np.flatnonzero(fold.known[row].toarray()[0]))
        assert not seen & set(personal[row].tolist())
    row = 0
    ratings, cluster, _ = cautious._user(row)
    assert cluster is None
    expected = [m for m, _ in cautious.counters.popular(100) if m not in ratings][:10]
    assert fold.movies.id_of(popular[row][popular[row] != NO_ITEM]).tolist() == expected


def test_one_fit_per_fold_serves_every_strategy(data, monkeypatch):
    fits = []
    real = served_module.fit_bundle

    def counted(*args, **kwargs):
        fits.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(served_module, "fit_bundle", counted)
    names = ["served:cluster", "baseline", "served:hybrid", "served:svd"]
    results = evaluate(names, "users:0.7:1", data, progress=False, served=SETUP)
    assert len(fits) == 1
    assert [r["model"] for r in results] == names
    served_rows = [r for r in results if r["model"].startswith("served:")]
    assert len({r["fit_seconds"] for r in served_rows}) == 1
    for result in served_rows:
        assert tuple(result) == RESULT_KEYS
        assert np.isnan(result["rmse"]) and np.isnan(result["mae"])  # lists, not ratings
        assert 0 < result["ndcg_at_10"] <= 1 and 0 < result["coverage_at_10"] <= 1
        assert 0 < result["popularity_percentile_at_10"] <= 100
