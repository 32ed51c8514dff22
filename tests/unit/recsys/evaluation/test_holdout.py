import numpy as np
import pandas as pd
import pytest

from shared.recsys.evaluation.holdout import gate, split_snapshot


def test_the_held_out_share_comes_from_the_ratings_and_favourite_marks_train():
    n = 20_000
    snapshot = pd.DataFrame({"user_id": np.arange(n) % 97, "movie_id": np.arange(n),
                             "rating": np.r_[np.zeros(2000), np.full(n - 2000, 4.0)],
                             "favourite": np.r_[np.ones(2000, bool), np.zeros(n - 2000, bool)],
                             "ts": np.arange(n)})
    train, held_out = split_snapshot(snapshot, 0.25)
    assert abs(len(held_out) - 0.25 * (n - 2000)) < 0.02 * n and (held_out["rating"] > 0).all()
    assert len(train) + len(held_out) == n and (train["rating"] == 0).sum() == 2000
    assert set(train["movie_id"]).isdisjoint(held_out["movie_id"])


def test_successive_snapshots_hold_out_the_same_pairs():
    rng = np.random.default_rng(0)
    snapshot = pd.DataFrame({"user_id": rng.integers(1, 500, 5000),
                             "movie_id": rng.integers(1, 900, 5000),
                             "rating": np.full(5000, 3.5), "ts": np.arange(5000)})
    grown = pd.concat([snapshot, snapshot.assign(user_id=snapshot["user_id"] + 1000)[:500]])
    shuffled = grown.sample(frac=1.0, random_state=1)
    pairs = lambda frame: set(zip(frame["user_id"], frame["movie_id"]))  # noqa: E731
    before, after = split_snapshot(snapshot, 0.1)[1], split_snapshot(shuffled, 0.1)[1]
    assert pairs(before) <= pairs(after)  # new ratings, a new order: the old pairs stay out
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_snapshot(snapshot, 1.0)


def test_the_gate_allows_a_tolerance_and_names_what_got_worse():
    active = {"ndcg_at_10": 0.30, "rmse": 0.80}
    assert gate({"ndcg_at_10": 0.29, "rmse": 0.83}, active, 0.05) == []
    assert gate({"ndcg_at_10": 0.10, "rmse": 0.80}, None, 0.05) == []  # nothing to compare with
    reasons = gate({"ndcg_at_10": 0.28, "rmse": 0.85}, active, 0.05)
    assert len(reasons) == 2 and "nDCG@10 0.2800" in reasons[0] and "RMSE 0.8500" in reasons[1]
    assert gate({"ndcg_at_10": None, "rmse": None}, active, 0.05) == []
