import numpy as np
import pandas as pd
import pytest

from shared.recsys.evaluation.holdout import gate, predicted_pairs, split_snapshot


def test_the_held_out_share_comes_from_the_ratings_and_favourite_marks_train():
    n = 20_000
    snapshot = pd.DataFrame({"user_id": np.arange(n) % 97, "movie_id": np.arange(n),
                             "rating": np.r_[np.zeros(2000), np.full(n - 2000, 4.0)],
                             "favourite": np.r_[np.ones(2000, bool), np.zeros(n - 2000, bool)],
                             "ts": np.arange(n)})
    train, held_out = split_snapshot(snapshot, 0.25, "random")
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
    before, after = (split_snapshot(snapshot, 0.1, "random")[1],
                     split_snapshot(shuffled, 0.1, "random")[1])
    assert pairs(before) <= pairs(after)  # new ratings, a new order: the old pairs stay out
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_snapshot(snapshot, 1.0)
    with pytest.raises(ValueError, match="temporal, random, got 'future'"):
        split_snapshot(snapshot, 0.1, "future")


def test_the_ratings_predicted_are_drawn_alike_in_any_row_order():
    rng = np.random.default_rng(0)
    known = pd.DataFrame({"user_id": rng.integers(1, 300, 4000),
                          "movie_id": rng.integers(1, 900, 4000), "rating": np.full(4000, 3.0)})
    known = known.drop_duplicates(["user_id", "movie_id"], ignore_index=True)
    pairs = lambda frame: set(zip(frame["user_id"], frame["movie_id"]))  # noqa: E731
    drawn = predicted_pairs(known, 500)
    assert len(drawn) == 500 and pairs(drawn) <= pairs(known)
    assert pairs(predicted_pairs(known.sample(frac=1.0, random_state=1), 500)) == pairs(drawn)
    assert pairs(predicted_pairs(known, 500, seed=1)) != pairs(drawn)


def test_the_temporal_holdout_is_the_latest_ratings_cut_at_one_instant():
    snapshot = pd.DataFrame({"user_id": np.arange(12) % 3, "movie_id": np.arange(12),
                             "rating": np.r_[np.full(10, 4.0), 0.0, 3.0],
                             "favourite": np.r_[np.zeros(10, bool), True, False],
                             "ts": [5, 1, 2, 3, 4, 6, 7, 8, 8, 9, 10, 0]})
    train, held_out = split_snapshot(snapshot, 0.3)  # 11 rated: from the 8th in time, ts 8
    assert sorted(held_out["ts"]) == [8, 8, 9] and (held_out["rating"] > 0).all()
    assert 10 in set(train["ts"])  # the favourite mark trains, however late
    same = snapshot.assign(ts=7)
    assert len(split_snapshot(same, 0.3)[1]) == 0  # one instant: nothing can be held out


def test_the_gate_allows_a_tolerance_and_names_what_got_worse():
    active = {"ndcg_at_10": 0.30, "rmse": 0.80}
    assert gate({"ndcg_at_10": 0.29, "rmse": 0.83, "users_listed": 500}, active, 0.05) == []
    assert gate({"ndcg_at_10": 0.10, "rmse": 0.80}, None, 0.05) == []  # nothing to compare with
    reasons = gate({"ndcg_at_10": 0.28, "rmse": 0.85, "users_listed": 500}, active, 0.05)
    assert len(reasons) == 2 and "nDCG@10 0.2800" in reasons[0] and "RMSE 0.8500" in reasons[1]
    assert gate({"ndcg_at_10": None, "rmse": None}, active, 0.05) == []


def test_numbers_measured_on_another_kind_of_holdout_are_not_compared():
    worse = {"split": "temporal", "ndcg_at_10": 0.1, "rmse": 2.0, "users_listed": 500}
    assert gate(worse, {"split": "random", "ndcg_at_10": 0.3, "rmse": 0.8}, 0.05) == []
    assert gate(worse, {"ndcg_at_10": 0.3, "rmse": 0.8}, 0.05) == []  # recorded before splits
    assert len(gate(worse, {"split": "temporal", "ndcg_at_10": 0.3, "rmse": 0.8}, 0.05)) == 2


def test_the_noise_of_few_users_is_not_read_as_a_worse_version():
    active = {"split": "temporal", "ndcg_at_10": 0.14, "ndcg_at_10_se": 0.05}
    noisy = {"split": "temporal", "ndcg_at_10": 0.09, "ndcg_at_10_se": 0.05, "users_listed": 25}
    assert gate(noisy, active, 0.10) == []  # 0.05 lower, 0.14 of noise
    reasons = gate({**noisy, "ndcg_at_10_se": 0.004}, {**active, "ndcg_at_10_se": 0.003}, 0.10)
    assert reasons == ["nDCG@10 0.0900 is below the active version's 0.1400 by more than 10% "
                       "and 0.0100 of noise"]


def test_lists_below_the_most_popular_ones_on_the_same_users_are_refused_without_a_past():
    broken = {"split": "temporal", "ndcg_at_10": 0.01, "most_popular_ndcg_at_10": 0.09,
              "gain_over_most_popular_se": 0.02, "users_listed": 25}
    assert gate(broken, None, 0.10) == ["nDCG@10 0.0100 is below the most-popular list's "
                                        "0.0900 on the same users by more than 10% and 0.0400 "
                                        "of noise"]
    assert gate({**broken, "ndcg_at_10": 0.05}, None, 0.10) == []  # within the noise
    assert gate({**broken, "users_listed": 9}, None, 0.10) == []  # too few users to say
