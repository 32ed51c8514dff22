import numpy as np
import pandas as pd
import pytest

from shared.recsys.evaluation.holdout import gate, split_snapshot


def test_the_held_out_share_comes_from_the_ratings_and_favourite_marks_train():
    snapshot = pd.DataFrame({"user_id": np.arange(100) % 7, "movie_id": np.arange(100),
                             "rating": np.r_[np.zeros(20), np.full(80, 4.0)],
                             "favourite": np.r_[np.ones(20, bool), np.zeros(80, bool)],
                             "ts": np.arange(100)})
    train, held_out = split_snapshot(snapshot, 0.25)
    assert len(held_out) == 20 and (held_out["rating"] > 0).all()
    assert len(train) == 80 and (train["rating"] == 0).sum() == 20
    assert set(train["movie_id"]).isdisjoint(held_out["movie_id"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_snapshot(snapshot, 1.0)


def test_the_gate_allows_a_tolerance_and_names_what_got_worse():
    active = {"ndcg_at_10": 0.30, "rmse": 0.80}
    assert gate({"ndcg_at_10": 0.29, "rmse": 0.83}, active, 0.05) == []
    assert gate({"ndcg_at_10": 0.10, "rmse": 0.80}, None, 0.05) == []  # nothing to compare with
    reasons = gate({"ndcg_at_10": 0.28, "rmse": 0.85}, active, 0.05)
    assert len(reasons) == 2 and "nDCG@10 0.2800" in reasons[0] and "RMSE 0.8500" in reasons[1]
    assert gate({"ndcg_at_10": None, "rmse": None}, active, 0.05) == []
