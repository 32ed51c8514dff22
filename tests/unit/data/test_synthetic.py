"""The synthetic data generator: ml-latest format, the promised statistics, determinism."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

import shared.data.synthetic as synthetic
from shared.data.synthetic import GENRES, NO_GENRES, generate
from shared.recsys.ratings import rating_matrix

FILES = ["movies.csv", "ratings.csv", "tags.csv", "truth_user_groups.csv", "README.txt"]
HALF_STAR_GRID = np.arange(1, 11) / 2


def read(out_dir, name):
    return pd.read_csv(out_dir / name)


@pytest.fixture(scope="module")
def sparse_set(tmp_path_factory):
    """MovieLens-like sparsity: many movies, few ratings each, several blocks."""
    out = tmp_path_factory.mktemp("sparse")
    stats = generate(out, n_users=2000, n_movies=3000, n_ratings=60_000, seed=7,
                     block_users=700)
    return out, stats


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    args = dict(n_users=120, n_movies=300, n_ratings=4000)
    generate(tmp_path / "a", seed=3, **args)
    generate(tmp_path / "b", seed=3, **args)
    generate(tmp_path / "c", seed=4, **args)
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for name in ["movies.csv", "ratings.csv", "truth_user_groups.csv"]:
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes(), name


def test_counts_ids_and_rating_values(sparse_set):
    out, stats = sparse_set
    ratings = read(out, "ratings.csv")
    movies = read(out, "movies.csv")
    assert (stats.n_users, stats.n_movies, stats.n_ratings) == (2000, 3000, 60_000)
    assert len(ratings) == 60_000
    assert len(movies) == 3000 and movies["movieId"].is_unique
    assert set(ratings["userId"]) == set(range(1, 2001))
    assert set(ratings["movieId"]) <= set(movies["movieId"])
    assert not ratings.duplicated(["userId", "movieId"]).any()
    assert set(np.unique(ratings["rating"])) <= set(HALF_STAR_GRID)
    assert 3.2 <= ratings["rating"].mean() <= 3.8
    assert 0.8 <= ratings["rating"].std() <= 1.2
    assert stats.rating_mean == pytest.approx(ratings["rating"].mean())
    assert stats.rating_sd == pytest.approx(ratings["rating"].std())


def test_whole_stars_are_preferred_and_half_stars_start_in_2003(sparse_set):
    ratings = read(sparse_set[0], "ratings.csv")
    whole = (ratings["rating"] % 1 == 0).mean()
    assert 0.6 <= whole <= 0.85  # ml-latest-small: 0.70
    half = ratings[ratings["rating"] % 1 != 0]
    assert len(half) > 0
    assert half["timestamp"].min() >= synthetic.HALF_STARS_FROM


def test_popularity_follows_a_power_law(sparse_set):
    out, stats = sparse_set
    counts = np.sort(read(out, "ratings.csv")["movieId"].value_counts().to_numpy())[::-1]
    top_tenth = counts[: stats.n_movies // 10].sum() / counts.sum()
    assert top_tenth > 0.4  # uniform popularity would give ~0.1; ml-latest-small gives 0.60
    head = counts[: len(counts) // 2]
    slope = np.polyfit(np.log(np.arange(1, len(head) + 1)), np.log(head), 1)[0]
    assert -1.6 < slope < -0.5


def test_activity_is_skewed_with_a_minimum(sparse_set):
    out, stats = sparse_set
    per_user = read(out, "ratings.csv").groupby("userId").size()
    assert per_user.min() >= stats.min_ratings
    assert stats.min_ratings == 6  # 20 like MovieLens, scaled to a fifth of the mean of 30
    assert per_user.mean() > 1.3 * per_user.median()
    assert per_user.max() > 5 * per_user.median()


def test_timestamps_lie_in_the_movielens_era_and_users_rate_over_time(sparse_set):
    ratings = read(sparse_set[0], "ratings.csv")
    assert ratings["timestamp"].between(synthetic.FIRST_TIMESTAMP, synthetic.LAST_TIMESTAMP).all()
    spans = ratings.groupby("userId")["timestamp"].agg(lambda t: t.max() - t.min())
    assert (spans > 0).mean() > 0.9
    assert spans.median() < 365 * 86_400 < spans.max()


def test_files_read_as_ml_latest(sparse_set):
    out, stats = sparse_set
    ratings, movies = read(out, "ratings.csv"), read(out, "movies.csv")
    tags, truth = read(out, "tags.csv"), read(out, "truth_user_groups.csv")
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert [str(t) for t in ratings.dtypes] == ["int64", "int64", "float64", "int64"]
    assert list(movies.columns) == ["movieId", "title", "genres"]
    assert list(tags.columns) == ["userId", "movieId", "tag", "timestamp"]
    assert list(truth.columns) == ["userId", "group"]
    assert ratings.equals(ratings.sort_values(["userId", "movieId"], ignore_index=True))
    assert movies["title"].str.fullmatch(r".+ \((19|20)\d\d\)").all()
    assert movies["title"].str.contains(", The (", regex=False).any()  # quoted by csv
    genre_sets = movies["genres"].str.split("|")
    assert all(set(g) <= set(GENRES) or g == [NO_GENRES] for g in genre_sets)
    assert all(g == sorted(g) for g in genre_sets)
    assert 1.5 < genre_sets.str.len().mean() < 3
    assert 0 < stats.n_tags == len(tags) < 0.1 * len(ratings)
    rated = set(zip(ratings["userId"], ratings["movieId"]))
    assert set(zip(tags["userId"], tags["movieId"])) <= rated
    assert not tags.duplicated(["userId", "movieId", "tag"]).any()
    assert sorted(truth["userId"]) == list(range(1, stats.n_users + 1))
    assert set(truth["group"]) == set(range(stats.n_groups))


def test_tags_come_from_the_genres_of_the_movie(sparse_set):
    out, _ = sparse_set
    tags = read(out, "tags.csv").merge(read(out, "movies.csv"), on="movieId")
    general = set(synthetic.GENERAL_TAGS)
    for tag, genres in zip(tags["tag"], tags["genres"]):
        allowed = general.union(*(synthetic.GENRE_TAGS.get(g, []) for g in genres.split("|")))
        assert tag in allowed, (tag, genres)


def test_readme_says_synthetic_and_how_it_was_made(sparse_set):
    text = (sparse_set[0] / "README.txt").read_text()
    assert "SYNTHETIC" in text and "NOT real MovieLens" in text
    for fragment in ["--users 2000", "--movies 3000", "--ratings 60000", "--seed 7",
                     "truth_user_groups.csv", "block_users=700"]:
        assert fragment in text


def test_kmeans_recovers_the_latent_groups(tmp_path):
    stats = generate(tmp_path, n_users=300, n_movies=200, n_ratings=15_000, seed=0, n_groups=4)
    frame = read(tmp_path, "ratings.csv").rename(
        columns={"userId": "user_id", "movieId": "movie_id", "timestamp": "ts"})
    X, users, _ = rating_matrix(frame)
    X = X.toarray()  # 300 x 200: small enough to be dense
    rated = X > 0
    centred = np.where(rated, X - X.sum(axis=1, keepdims=True) / rated.sum(axis=1, keepdims=True),
                       0.0)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    truth = read(tmp_path, "truth_user_groups.csv").set_index("userId").loc[users.ids, "group"]
    labels = KMeans(n_clusters=stats.n_groups, n_init=10, random_state=0).fit_predict(centred)
    assert adjusted_rand_score(truth, labels) > 0.3


def test_blocks_smaller_than_the_users_are_written_one_at_a_time(tmp_path, monkeypatch):
    written = []
    write = synthetic._write_ratings

    def spy(out, user, movie, rating, timestamp, **kwargs):
        written.append(np.unique(user))
        write(out, user, movie, rating, timestamp, **kwargs)

    monkeypatch.setattr(synthetic, "_write_ratings", spy)
    stats = generate(tmp_path, n_users=95, n_movies=80, n_ratings=3000, seed=1, block_users=10)
    assert stats.n_blocks == len(written) == math.ceil(95 / 10)
    assert all(len(users) <= 10 for users in written)
    assert np.array_equal(np.concatenate(written), np.arange(1, 96))
    ratings = read(tmp_path, "ratings.csv")
    assert len(ratings) == 3000 and not ratings.duplicated(["userId", "movieId"]).any()


def test_every_pair_once_when_all_movies_are_rated(tmp_path):
    generate(tmp_path, n_users=30, n_movies=25, n_ratings=30 * 25, seed=2, block_users=7)
    ratings = read(tmp_path, "ratings.csv")
    assert len(ratings) == 750 and not ratings.duplicated(["userId", "movieId"]).any()
    assert (ratings.groupby("userId").size() == 25).all()


@pytest.mark.parametrize("n_users, n_movies, n_ratings", [(40, 500, 4000), (40, 60, 2000)])
def test_heavy_and_light_users_get_exactly_their_counts(tmp_path, n_users, n_movies, n_ratings):
    """Covers both samplers: repeated draws (light users) and Gumbel top-k (heavy users)."""
    counts = synthetic._activity_counts(np.random.default_rng(0), n_users, n_movies, n_ratings, 5)
    assert counts.sum() == n_ratings and counts.min() >= 5 and counts.max() <= n_movies
    log_weights = np.log(np.arange(1, n_movies + 1, dtype=float))[::-1][None, :]
    user, movie = synthetic._sample_movies(np.random.default_rng(1), np.zeros(n_users, int),
                                           counts, log_weights)
    assert np.array_equal(np.bincount(user, minlength=n_users), counts)
    assert len(np.unique(user * n_movies + movie)) == n_ratings


def test_progress_bar_counts_ratings(tmp_path, capsys):
    generate(tmp_path, n_users=20, n_movies=30, n_ratings=200, progress=True)
    assert "200/200" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_users=0), "n_users must be a positive integer"),
    (dict(n_movies=-3), "n_movies must be a positive integer"),
    (dict(n_ratings=2.5), "n_ratings must be a positive integer"),
    (dict(n_ratings=10 * 20 + 1), "n_ratings=201 exceeds n_users x n_movies = 200"),
    (dict(n_ratings=5), "n_ratings=5 is below n_users x min_ratings = 10 x 1"),
    (dict(min_ratings=21), "min_ratings must be an integer in 1..n_movies=20"),
    (dict(n_ratings=100, min_ratings=11), "n_ratings=100 is below n_users x min_ratings = 10 x 11"),
    (dict(seed=-1), "seed must be a non-negative integer"),
    (dict(n_groups=11), "n_groups=11 must not exceed n_users=10"),
    (dict(block_users=0), "block_users must be a positive integer"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    args = dict(n_users=10, n_movies=20, n_ratings=100) | kwargs
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()
