import time

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from shared.recsys.models.tuning import tune, validation_split
from tests.unit.recsys.models.synthetic import low_rank_ratings
from tests.unit.recsys.models.taste_groups import taste_group_fold


class SignedPopularity(BaseEstimator):
    """Movies by their number of training ratings, or against it (``sign=-1``); ``pause``
    makes the fit slower without changing it; ``width`` changes nothing."""

    def __init__(self, sign: int = 1, pause: float = 0.0, width: int = 0):
        self.sign = sign
        self.pause = pause
        self.width = width

    def fit(self, X, y=None):
        time.sleep(self.pause)
        self.counts_ = self.sign * np.bincount(X.indices, minlength=X.shape[1]).astype(float)
        return self

    def score_users(self, users):
        return np.tile(self.counts_, (len(users), 1))


@pytest.fixture(scope="module")
def ratings():
    return sp.csr_matrix(low_rank_ratings(n_users=80, n_items=50, density=0.5)[0])


def test_the_validation_split_holds_out_a_seeded_share_of_the_ratings(ratings):
    split = validation_split(ratings, share=0.25, seed=3)
    assert split.n_held_out == round(0.25 * ratings.nnz)
    assert split.train.nnz == ratings.nnz - split.n_held_out
    kept = split.train.toarray()
    full = ratings.toarray()
    assert np.all(kept[kept > 0] == full[kept > 0])  # training ratings are unchanged
    relevant = split.relevant.toarray()
    assert not np.any(relevant & (kept > 0))  # a held-out movie is not in training
    assert np.all(full[relevant] >= 4.0)
    held = (full > 0) & (kept == 0)
    assert relevant.sum() == np.sum(held & (full >= 4.0))
    again = validation_split(ratings, share=0.25, seed=3)
    assert (again.train != split.train).nnz == 0
    assert (validation_split(ratings, share=0.25, seed=4).train != split.train).nnz > 0


def test_with_times_the_latest_ratings_are_held_out_and_only_known_users_and_movies_count(
        ratings):
    rng = np.random.default_rng(5)
    times = ratings.copy()
    times.data = rng.permutation(ratings.nnz).astype(float) + 1.0  # distinct times
    late_user = 7  # every rating of this user is among the latest
    start, end = times.indptr[late_user], times.indptr[late_user + 1]
    times.data[start:end] = 1e9 + np.arange(end - start)
    split = validation_split(ratings, share=0.25, times=times)
    kept, full, when = split.train.toarray(), ratings.toarray(), times.toarray()
    held = (full > 0) & (kept == 0)
    assert held.sum() == ratings.nnz - round(0.75 * ratings.nnz)
    assert when[held].min() > when[kept > 0].max()  # one cut: every held-out one is later
    relevant = split.relevant.toarray()
    assert not relevant[late_user].any()  # a user with no training rating is not measured
    measured = held & (full >= 4.0) & (kept > 0).any(axis=1)[:, None] & (kept > 0).any(axis=0)
    assert np.array_equal(relevant, measured) and relevant.sum() > 0
    with pytest.raises(ValueError, match="entries of X"):
        validation_split(ratings, times=sp.csr_matrix(ratings.shape))


class Recency(SignedPopularity):
    """Movies by their training ratings, each counted ``0.5 ** (age / half_life)`` with the
    ratings' times (the newest most); remembers the times it was fitted with."""

    def __init__(self, half_life=None):
        self.half_life = half_life

    def fit(self, X, y=None, times=None):
        self.times_ = times
        weights = np.ones(X.nnz) if times is None or self.half_life is None else \
            0.5 ** ((times.data.max() - times.data) / self.half_life)
        self.counts_ = np.bincount(X.indices, weights=weights, minlength=X.shape[1])
        return self


def test_with_times_a_model_is_fitted_with_the_times_of_the_validation_training_part(ratings):
    times = ratings.copy()
    times.data = np.random.default_rng(6).permutation(ratings.nnz).astype(float) + 1.0
    best, table = tune(Recency(), {"half_life": [None, 50.0]}, ratings, times=times)
    assert len({row["ndcg"] for row in table}) == 2  # the times made a difference
    split = validation_split(ratings, times=times)
    assert split.train_times.nnz == split.train.nnz
    assert np.array_equal(split.train_times.indices, split.train.indices)
    assert split.train_times.data.max() < times.data.max()  # the latest are held out
    _, plain = tune(Recency(), {"half_life": [None, 50.0]}, ratings)
    assert plain[0]["ndcg"] == plain[1]["ndcg"]  # without times, no age to weigh by


def test_the_share_must_be_a_fraction(ratings):
    with pytest.raises(ValueError, match="share"):
        validation_split(ratings, share=1.0)


def test_tune_measures_every_point_and_returns_the_best(tmp_path):
    fold = taste_group_fold(tmp_path)
    best, table = tune(SignedPopularity(), {"sign": [-1, 1]}, fold.train)
    assert best == {"sign": 1}
    assert [row["sign"] for row in table] == [-1, 1]
    assert table[1]["ndcg"] > table[0]["ndcg"]
    assert all({"ndcg", "precision", "fit_seconds"} <= row.keys() for row in table)


def test_parameters_an_estimator_changes_without_fitting_are_measured_as_fitted(tmp_path):
    from shared.recsys.models.ease import EASE

    fold = taste_group_fold(tmp_path)
    grid = {"half_life": [None, 365.0], "l2": [5.0, 50.0], "popularity_exponent": [0.0, 0.2, 0.5]}
    fits = []

    class Counted(EASE):
        def fit(self, X, y=None, times=None):
            fits.append(self.get_params())
            return super().fit(X, y, times)

    best, table = tune(Counted(max_candidates=100), grid, fold.train)
    assert len(fits) == 2 and len(table) == 12  # one fit per half-life
    _, fitted_each = tune(EASE(max_candidates=100), [
        {"half_life": [h], "l2": [l2], "popularity_exponent": [a]} for h in grid["half_life"]
        for l2 in grid["l2"] for a in grid["popularity_exponent"]], fold.train)
    key = lambda row: (row["half_life"], row["l2"], row["popularity_exponent"])  # noqa: E731
    assert {key(r): round(r["ndcg"], 6) for r in table} == \
        {key(r): round(r["ndcg"], 6) for r in fitted_each}
    assert len({round(r["ndcg"], 6) for r in table}) > 2


def test_an_empty_grid_is_an_error(ratings):
    with pytest.raises(ValueError, match="empty"):
        tune(SignedPopularity(), [], ratings)


def test_a_tolerance_prefers_the_fastest_fit_among_equals(tmp_path):
    fold = taste_group_fold(tmp_path)
    grid = {"sign": [1], "pause": [0.05, 0.0]}
    assert tune(SignedPopularity(), grid, fold.train)[0] == {"sign": 1, "pause": 0.05}
    fast, _ = tune(SignedPopularity(), grid, fold.train, tolerance=0.01)
    assert fast == {"sign": 1, "pause": 0.0}
    worse = {"sign": [1, -1], "pause": [0.05, 0.0]}
    best, _ = tune(SignedPopularity(), worse, fold.train, tolerance=0.01)
    assert best["sign"] == 1  # a fast but worse point is not within the tolerance



def test_a_tolerance_can_weigh_the_cost_by_a_parameter(tmp_path):
    """A parameter whose price is paid when serving (``width`` here, which the fit ignores)
    can be the cost: its lowest value among the equals wins, however long the fit took."""
    fold = taste_group_fold(tmp_path)
    grid = [{"sign": [1], "pause": [0.05], "width": [1]},
            {"sign": [1], "pause": [0.0], "width": [2]}]
    assert tune(SignedPopularity(), grid, fold.train, tolerance=0.01)[0]["width"] == 2
    assert tune(SignedPopularity(), grid, fold.train, tolerance=0.01, cost="width")[0] == {
        "sign": 1, "pause": 0.05, "width": 1}
    worse = [{"sign": [-1], "width": [1]}, {"sign": [1], "width": [2]}]
    assert tune(SignedPopularity(), worse, fold.train, tolerance=0.01, cost="width")[0] == {
        "sign": 1, "width": 2}  # a cheaper but worse point is not within the tolerance
