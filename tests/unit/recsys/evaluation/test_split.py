from functools import partial

import numpy as np
import pandas as pd
import pytest

from shared.data.movielens import ml100k_fold
from shared.recsys.evaluation.split import (
    PredefinedFolds,
    RandomSplit,
    TemporalSplit,
    UserSplit,
    fold_from_frames,
    parse_split,
)


def synthetic_ratings(n_users=40, n_movies=60, per_user=20, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        movies = rng.choice(n_movies, size=per_user, replace=False)
        for movie in movies:
            rows.append((user + 1, movie + 100, rng.integers(1, 11) / 2, rng.integers(0, 10_000)))
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "ts"])


def test_every_ratings_pair_is_used_once():
    ratings = synthetic_ratings()
    fold = next(RandomSplit(0.8, 0).folds(ratings))
    assert fold.train.nnz + fold.n_test + fold.dropped == len(ratings)
    assert fold.train.nnz == round(0.8 * len(ratings))


@pytest.mark.parametrize("text", ["random:0.7:3", "users:0.6:1", "temporal:0.75"])
def test_string_form_round_trips(text):
    assert str(parse_split(text)) == text


def test_parse_builds_each_kind():
    assert parse_split("u1-u5") == PredefinedFolds(("u1", "u2", "u3", "u4", "u5"))
    assert parse_split("ua") == PredefinedFolds(("ua",))
    assert parse_split("random:0.8:0") == RandomSplit(0.8, 0)
    assert parse_split("users:0.5:7") == UserSplit(0.5, 7)
    assert parse_split("temporal:0.9") == TemporalSplit(0.9)
    assert parse_split("u1-u5").n_folds == 5


@pytest.mark.parametrize("text", ["", "random", "random:0.8", "random:x:0", "random:1.5:0",
                                  "users:0:1", "temporal:0.8:1", "kfold:5", "random:0.8:-1"])
def test_bad_spec_is_a_value_error_naming_the_forms(text):
    with pytest.raises(ValueError) as err:
        parse_split(text)
    message = str(err.value)
    assert "FRACTION" in message or "SEED" in message


@pytest.mark.parametrize("make_split", [lambda s: RandomSplit(0.8, s), lambda s: UserSplit(0.7, s)])
def test_same_seed_same_fold_other_seed_other_fold(make_split):
    ratings = synthetic_ratings()
    a = next(make_split(1).folds(ratings))
    b = next(make_split(1).folds(ratings))
    c = next(make_split(2).folds(ratings))
    assert (a.train != b.train).nnz == 0
    np.testing.assert_array_equal(a.test_items, b.test_items)
    assert (a.train.shape != c.train.shape) or (a.train != c.train).nnz > 0


def test_random_split_test_pairs_are_not_in_train():
    fold = next(RandomSplit(0.8, 0).folds(synthetic_ratings()))
    assert fold.n_test > 0
    assert np.all(np.asarray(fold.train[fold.test_users, fold.test_items]).ravel() == 0)


def test_repeated_rating_never_lands_on_both_sides():
    ratings = synthetic_ratings()
    repeats = ratings.assign(rating=5.0, ts=ratings["ts"] + 100_000)
    both = pd.concat([ratings, repeats], ignore_index=True)
    fold = next(RandomSplit(0.5, 0).folds(both))
    assert fold.train.nnz + fold.n_test + fold.dropped == len(ratings)
    assert np.all(fold.train.data == 5.0)
    assert np.all(fold.test_ratings == 5.0)


def test_unknown_user_and_movie_are_dropped_and_counted():
    train = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [10, 11, 10],
                          "rating": [4.0, 3.0, 2.0], "ts": [0, 0, 0]})
    test = pd.DataFrame({"user_id": [2, 3, 1], "movie_id": [11, 10, 99],
                         "rating": [5.0, 1.0, 2.0], "ts": [1, 1, 1]})
    fold = fold_from_frames("t", train, test)
    assert fold.dropped == 2
    assert fold.n_test == 1
    assert fold.users.id_of(fold.test_users).tolist() == [2]
    assert fold.movies.id_of(fold.test_items).tolist() == [11]
    assert fold.test_ratings.tolist() == [5.0]


def test_temporal_test_ratings_are_all_later_than_training():
    ratings = synthetic_ratings()
    fold = next(TemporalSplit(0.8).folds(ratings))
    ts = ratings.set_index(["user_id", "movie_id"])["ts"]
    train_rows, train_cols = fold.train.nonzero()
    train_ts = ts.loc[list(zip(fold.users.id_of(train_rows), fold.movies.id_of(train_cols)))]
    test_ts = ts.loc[list(zip(fold.users.id_of(fold.test_users),
                              fold.movies.id_of(fold.test_items)))]
    assert fold.n_test > 0
    assert train_ts.max() < test_ts.min()
    assert fold.train.nnz <= round(0.8 * len(ratings))
    assert fold.train.nnz + fold.n_test + fold.dropped == len(ratings)


def test_users_protocol_keeps_test_users_out_of_training():
    ratings = synthetic_ratings(n_users=50)
    fold = next(UserSplit(0.8, 0).folds(ratings))
    assert len(fold.users) == 40
    assert len(fold.known_users) == 10
    assert not set(fold.users.ids) & set(fold.known_users.ids)
    assert fold.known.shape == (10, len(fold.movies))
    assert fold.seen is fold.known


def test_users_protocol_reveals_half_of_each_test_users_ratings():
    # every movie is rated by many users, so every held-out movie is known to training
    ratings = synthetic_ratings(n_users=60, n_movies=25, per_user=11)
    fold = next(UserSplit(0.7, 3).folds(ratings))
    assert fold.dropped == 0
    per_user = ratings.groupby("user_id").size()
    known_counts = np.diff(fold.known.indptr)
    test_counts = np.bincount(fold.test_users, minlength=len(fold.known_users))
    totals = per_user.loc[fold.known_users.ids].to_numpy()
    np.testing.assert_array_equal(known_counts + test_counts, totals)
    np.testing.assert_array_equal(known_counts, (totals + 1) // 2)
    assert np.all(np.asarray(fold.known[fold.test_users, fold.test_items]).ravel() == 0)


def test_predefined_folds_need_a_folder():
    with pytest.raises(ValueError, match="folder"):
        next(parse_split("u1-u5").folds(synthetic_ratings()))


def _write_ml100k(folder, ratings: pd.DataFrame):
    """A tiny folder laid out like ml-100k: u.data, u.item and u1..u5 .base/.test files."""
    folder.mkdir()
    cols = ["user_id", "movie_id", "rating", "ts"]
    ratings = ratings.assign(rating=ratings["rating"].clip(1, 5).round().astype(int))
    ratings[cols].to_csv(folder / "u.data", sep="\t", header=False, index=False)
    genres = "|".join(["0"] * 19)
    items = [f"{m}|Movie {m} (1995)|01-Jan-1995||http://x|{genres}"
             for m in sorted(ratings["movie_id"].unique())]
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")
    (folder / "u.genre").write_text("unknown|0\n", encoding="latin-1")
    fold_of = np.arange(len(ratings)) % 5
    for k in range(5):
        ratings[fold_of != k][cols].to_csv(folder / f"u{k + 1}.base", sep="\t", header=False,
                                           index=False)
        ratings[fold_of == k][cols].to_csv(folder / f"u{k + 1}.test", sep="\t", header=False,
                                           index=False)
    return ratings


def test_u1_to_u5_read_the_five_predefined_folds(tmp_path):
    ratings = _write_ml100k(tmp_path / "ml-100k", synthetic_ratings())
    folds = list(parse_split("u1-u5").folds(partial(ml100k_fold, tmp_path / "ml-100k")))
    assert [f.name for f in folds] == ["u1", "u2", "u3", "u4", "u5"]
    fold_of = np.arange(len(ratings)) % 5
    for k, fold in enumerate(folds):
        assert fold.train.nnz == int((fold_of != k).sum())
        assert fold.n_test + fold.dropped == int((fold_of == k).sum())


@pytest.mark.parametrize("split", [RandomSplit(0.8, 0), TemporalSplit(0.8), UserSplit(0.7, 0)])
def test_each_fold_keeps_the_time_of_each_training_rating(split):
    """(what the trainer's temporal validation of the served version reads)"""
    ratings = synthetic_ratings()
    fold = next(split.folds(ratings))
    ts = ratings.set_index(["user_id", "movie_id"])["ts"]
    rows, cols = fold.train.nonzero()
    assert np.array_equal(fold.train_ts.indices, fold.train.indices)
    assert np.array_equal(fold.train_ts.indptr, fold.train.indptr)
    expected = ts.loc[list(zip(fold.users.id_of(rows), fold.movies.id_of(cols)))].to_numpy()
    assert np.array_equal(np.asarray(fold.train_ts[rows, cols]).ravel() - 1.0, expected)
