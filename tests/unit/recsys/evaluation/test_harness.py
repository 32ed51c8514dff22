import numpy as np
import pandas as pd
import pytest

from shared.recsys.evaluation.harness import RESULT_KEYS, evaluate, measure
from shared.recsys.evaluation.split import RandomSplit, UserSplit
from shared.recsys.models.base import RatingPredictor
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.ratings import rating_matrix


def synthetic_ratings(n_users=60, n_movies=40, per_user=15, seed=0) -> pd.DataFrame:
    """Ratings with real structure (user and movie biases), so a fitted model beats chance."""
    rng = np.random.default_rng(seed)
    user_bias, movie_bias = rng.normal(0, 0.7, n_users), rng.normal(0, 0.7, n_movies)
    users = np.repeat(np.arange(n_users), per_user)
    movies = np.concatenate([rng.choice(n_movies, per_user, replace=False) for _ in range(n_users)])
    raw = 3.5 + user_bias[users] + movie_bias[movies] + rng.normal(0, 0.3, len(users))
    return pd.DataFrame({"user_id": users + 1, "movie_id": movies + 1,
                         "rating": np.clip(np.round(raw * 2) / 2, 0.5, 5.0),
                         "ts": rng.integers(0, 10_000, len(users))})


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
    for key in ("precision_at_10", "recall_at_10", "ndcg_at_10"):
        assert 0 <= result[key] <= 1
    assert result["fit_seconds"] >= 0
    fold = next(RandomSplit(0.8, 0).folds(synthetic_ratings()))
    assert result["n_test"] == fold.n_test


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
