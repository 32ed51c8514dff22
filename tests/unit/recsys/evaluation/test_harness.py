import numpy as np
import pytest

from shared.recsys.evaluation.harness import RESULT_KEYS, evaluate, measure
from shared.recsys.evaluation.split import RandomSplit, UserSplit
from shared.recsys.models.base import RatingPredictor
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.ratings import rating_matrix
from tests.unit.recsys.evaluation.synthetic import synthetic_ratings


class Oracle(RatingPredictor):
    """Scores every pair with its true rating (0 where unrated): the harness must then report
    zero error and a perfect ranking."""

    def __init__(self, truth=None):
        self.truth = truth

    def fit(self, X, y=None):
        return self

    def score_users(self, users):
        return self.truth[np.asarray(users)].toarray()


def test_result_has_the_documented_keys_and_sane_values():
    [result] = evaluate(["baseline"], "random:0.8:0", synthetic_ratings(), progress=False)
    assert tuple(result) == RESULT_KEYS
    assert result["model"] == "baseline" and result["split"] == "random:0.8:0"
    assert result["folds"] == 1
    assert 0 < result["mae"] <= result["rmse"]
    for key in ("precision_at_10", "recall_at_10", "ndcg_at_10", "coverage_at_10"):
        assert 0 <= result[key] <= 1
    assert 0 < result["popularity_percentile_at_10"] <= 100
    assert result["fit_seconds"] > 0
    fold = next(RandomSplit(0.8, 0).folds(synthetic_ratings()))
    assert result["n_test"] == fold.n_test


def test_fit_seconds_is_the_fit_alone(monkeypatch):
    """Timed on an injected clock that only the model moves: 2.5 s fitting, 7 s scoring."""
    from types import SimpleNamespace

    from shared.recsys.evaluation import harness

    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(harness, "time", SimpleNamespace(perf_counter=lambda: clock.now))

    class Timed(BaselinePredictor):
        def fit(self, X, y=None):
            clock.now += 2.5
            return super().fit(X, y)

        def score_users(self, users):
            clock.now += 7.0
            return super().score_users(users)

    result = measure(Timed(), next(RandomSplit(0.8, 0).folds(synthetic_ratings())))
    assert result["fit_seconds"] == 2.5
    assert clock.now > 1000.0 + 2.5  # scoring did move the clock, after the fit was timed


def test_same_seed_gives_the_same_numbers():
    data = synthetic_ratings()
    a = evaluate(["baseline"], "random:0.8:5", data, progress=False)[0]
    b = evaluate(["baseline"], "random:0.8:5", data, progress=False)[0]
    assert {k: v for k, v in a.items() if k != "fit_seconds"} == {
        k: v for k, v in b.items() if k != "fit_seconds"}


def test_baseline_beats_the_global_mean():
    data = synthetic_ratings()
    fold = next(RandomSplit(0.8, 0).folds(data))
    result = measure(BaselinePredictor(), fold)
    mean_rmse = np.sqrt(np.mean((fold.test_ratings - fold.train.data.mean()) ** 2))
    assert result["rmse"] < mean_rmse


def test_an_oracle_scores_perfectly():
    data = synthetic_ratings()
    fold = next(RandomSplit(0.8, 0).folds(data))
    truth, _, _ = rating_matrix(data, fold.users, fold.movies)
    result = measure(Oracle(truth), fold)
    assert result["rmse"] == pytest.approx(0.0)
    assert result["ndcg_at_10"] == pytest.approx(1.0)
    assert result["recall_at_10"] == pytest.approx(1.0)  # no user holds out more than 10 favourites


def test_users_protocol_shows_the_model_only_the_known_halves():
    shown = []

    class Spy(BaselinePredictor):
        def predict_unseen(self, X_new):
            shown.append(X_new)
            return super().predict_unseen(X_new)

    fold = next(UserSplit(0.8, 0).folds(synthetic_ratings()))
    result = measure(Spy(), fold)
    assert shown, "predict_unseen was never called"
    assert sum(X.nnz for X in shown) >= fold.known.nnz
    assert all(X.shape[1] == len(fold.movies) for X in shown)
    assert result["n_test"] == fold.n_test and np.isfinite(result["rmse"])


def test_results_are_averaged_over_folds():
    data = synthetic_ratings()

    class TwoFolds:
        n_folds = 2

        def __str__(self):
            return "two"

        def folds(self, data):
            yield from RandomSplit(0.8, 1).folds(data)
            yield from RandomSplit(0.8, 2).folds(data)

    [result] = evaluate(["baseline"], TwoFolds(), data, progress=False)
    single = [evaluate(["baseline"], f"random:0.8:{s}", data, progress=False)[0] for s in (1, 2)]
    assert result["folds"] == 2 and result["split"] == "two"
    assert result["rmse"] == pytest.approx((single[0]["rmse"] + single[1]["rmse"]) / 2)
    assert result["n_test"] == single[0]["n_test"] + single[1]["n_test"]


def test_unknown_model_fails_before_any_fit():
    with pytest.raises(KeyError, match="baseline"):
        evaluate(["baseline", "nope"], "random:0.8:0", synthetic_ratings(), progress=False)


@pytest.mark.parametrize("name", ["svd", "item-knn", "truncated-svd", "default"])
def test_served_models_run_end_to_end(name):
    data = synthetic_ratings()
    [result] = evaluate([name], "random:0.8:0", data, progress=False)
    [baseline] = evaluate(["baseline"], "random:0.8:0", data, progress=False)
    assert np.isfinite(result["rmse"]) and result["rmse"] < 1.5 * baseline["rmse"]


class MostRated(RatingPredictor):
    """Ranks every user's movies by how many training ratings they have; no rating scale."""

    predicts_ratings = False

    def fit(self, X, y=None):
        self.counts_ = np.diff(X.tocsc().indptr).astype(float)
        return self

    def score_users(self, users):
        return np.tile(self.counts_, (len(users), 1))

    def predict_unseen(self, X_new):
        return np.tile(self.counts_, (X_new.shape[0], 1))


class RanksOnly(MostRated):
    """Says it ranks only by refusing to predict ratings."""

    predicts_ratings = True

    def predict(self, users, items):
        raise NotImplementedError("ranks only")


@pytest.mark.parametrize("model, split", [
    (MostRated(), RandomSplit(0.8, 0)), (MostRated(), UserSplit(0.8, 0)),
    (RanksOnly(), RandomSplit(0.8, 0)),  # under users: only the declaration can tell
])
def test_a_ranking_only_model_has_no_rating_error_but_is_ranked(model, split):
    fold = next(split.folds(synthetic_ratings()))
    result = measure(model, fold)
    assert np.isnan(result["rmse"]) and np.isnan(result["mae"])
    assert 0 < result["ndcg_at_10"] <= 1
    assert result["popularity_percentile_at_10"] > 70  # the most rated movies, by construction


def test_coverage_and_popularity_tell_a_popular_list_from_a_personal_one():
    data = synthetic_ratings()
    fold = next(RandomSplit(0.8, 0).folds(data))
    truth, _, _ = rating_matrix(data, fold.users, fold.movies)
    popular, oracle = measure(MostRated(), fold), measure(Oracle(truth), fold)
    assert popular["coverage_at_10"] < oracle["coverage_at_10"] <= 1
    assert popular["popularity_percentile_at_10"] > oracle["popularity_percentile_at_10"]

