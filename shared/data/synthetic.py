"""Synthetic MovieLens-shaped data sets, for tests and benchmarks at any size.

Writes the ml-latest CSV format (``movies.csv``, ``ratings.csv``, ``tags.csv``) plus
``truth_user_groups.csv`` and a ``README.txt``. The data follow a model with known structure,
so tests can check that the algorithms find it:

* movies have a Zipf popularity ``w_i ∝ (rank_i + 5)^-1``, 1-5 genres with MovieLens
  frequencies, latent factors ``q_i`` that lean towards their genres, and a bias ``b_i``;
* users belong to ``n_groups`` latent taste groups: user ``u`` of group ``g`` has factors
  ``p_u = c_g + noise`` around the group's centre, which favours a few genres, and a bias ``b_u``;
* the number of ratings of a user is log-normal (at least a minimum, at most ``n_movies``),
  rescaled so that the total is exactly ``n_ratings``;
* user ``u`` picks movies without replacement with probability ``∝ w_i exp(β <c_g, q_i>)``,
  so groups differ in what they watch as well as in how they rate it;
* ``r_ui = round(μ + b_u + b_i + <p_u, q_i> - t_u + ε)``, where ``t_u`` is the mean of
  ``<p_u, q_j>`` over the movies ``j`` that ``u`` rated (people rate on their own scale, so picking
  liked movies does not lift the mean), clipped to 0.5..5; rounded to whole stars for users who
  started before half stars existed (Feb 2003) and for some later ones, else to half stars.

Ratings are drawn and appended to disk one block of users at a time, so memory follows the
block, not the data set. The same arguments give byte-identical files.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from shared.data.synthetic_words import (
    GENERAL_TAGS,
    GENRE_COUNTS,
    GENRE_TAGS,
    GENRES,
    NO_GENRES,
    TITLE_ADJECTIVES,
    TITLE_NAMES,
    TITLE_NOUNS,
)
from shared.recsys.ratings import RATING_MAX, RATING_MIN

RATING_LABELS = np.array([f"{half / 2:.1f}" for half in range(11)], dtype=object)

FIRST_TIMESTAMP = 822_873_600   # 1996-01-29, about when MovieLens began
LAST_TIMESTAMP = 1_696_982_400  # 2023-10-11, the end of ml-latest
HALF_STARS_FROM = 1_045_526_400  # 2003-02-18, when MovieLens introduced half stars
LATEST_YEAR = 2023

GLOBAL_MEAN = 3.52         # μ; clipping at 5 pulls the realised mean down to ~3.5
USER_BIAS_SD = 0.38
MOVIE_BIAS_SD = 0.30
NOISE_SD = 0.55
GROUP_TASTE = 0.80        # sd of <c_g, q_i> over movies: how much the groups disagree
USER_TASTE = 0.20         # sd of <p_u - c_g, q_i>: how far a user strays from the group's taste
TASTE_SELECTION = 2.0     # β: how strongly a group's taste steers what its users watch
ZIPF_EXPONENT = 1.0
ZIPF_OFFSET = 5.0
ACTIVITY_SIGMA = 1.2      # of log(number of ratings per user); gives mean/median ~2 like ml-latest
MOVIELENS_MIN_RATINGS = 20
DEFAULT_GROUPS = 8
HALF_STAR_USERS = 0.75    # share of users after Feb 2003 who use half stars
TAGGER_USERS = 0.05
TAGS_PER_TAGGED_RATING = 0.3
GENERAL_TAG_SHARE = 0.3

# Users whose count is above this share of the movies are sampled exactly with a full Gumbel
# top-k over every movie; the others by drawing with replacement and dropping repeats.
DENSE_SHARE = 1 / 16
MAX_DRAW_ROUNDS = 6
GUMBEL_CELLS = 1 << 22    # users x movies keys held at once by the dense sampler
SAMPLE_SLICE = 1 << 18    # ratings sampled at once


@dataclass(frozen=True)
class GeneratedStats:
    """What :func:`generate` wrote."""

    out_dir: Path
    n_users: int
    n_movies: int
    n_ratings: int
    n_tags: int
    n_groups: int
    min_ratings: int
    seed: int
    n_blocks: int
    rating_mean: float
    rating_sd: float


@dataclass(frozen=True)
class _Movies:
    ids: np.ndarray            # (M,) increasing MovieLens-like ids with gaps
    genres: np.ndarray         # (M, 19) bool
    factors_t: np.ndarray      # (F, M): q_i as columns, so one factor is contiguous
    bias: np.ndarray           # (M,)
    log_popularity: np.ndarray  # (M,) log w_i
    genre_embedding: np.ndarray  # (19, F): the direction each genre pulls factors towards


def generate(out_dir, n_users: int, n_movies: int, n_ratings: int, seed: int = 0,
             progress: bool = False, *, n_groups: int | None = None, n_factors: int = 16,
             min_ratings: int | None = None, block_users: int = 10_000) -> GeneratedStats:
    """Write a synthetic MovieLens-shaped data set to ``out_dir`` and return what it holds.

    ``n_groups``: latent taste groups (default ``min(8, n_users)``); ``n_factors``: latent
    dimensions; ``min_ratings``: ratings every user has at least (default 20 like MovieLens,
    scaled down to a fifth of the mean activity when that is smaller); ``block_users``: users
    generated and appended at a time, which bounds memory. The files depend on every argument
    except ``progress`` (block size included). Raises ValueError naming a bad argument.
    """
    n_groups = min(DEFAULT_GROUPS, n_users) if n_groups is None else n_groups
    minimum = _check_arguments(n_users, n_movies, n_ratings, seed, n_groups, n_factors,
                               min_ratings, block_users)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = np.random.SeedSequence(seed)
    stream = lambda *key: np.random.default_rng(  # noqa: E731 - one named stream per purpose
        np.random.SeedSequence(root.entropy, spawn_key=key))

    movies = _make_movies(stream(0), n_movies, n_factors)
    _write_movies(out_dir / "movies.csv", stream(1), movies)
    group_rng = stream(2)
    centres = _group_centres(group_rng, movies, n_groups, n_factors)
    group_share = group_rng.dirichlet(np.full(n_groups, 5.0))
    log_weights = movies.log_popularity + TASTE_SELECTION * (centres @ movies.factors_t)
    counts = _activity_counts(stream(3), n_users, n_movies, n_ratings, minimum)

    n_blocks = math.ceil(n_users / block_users)
    total = total_sq = 0.0
    n_tags = 0
    with open(out_dir / "ratings.csv", "w", newline="") as ratings_out, \
            open(out_dir / "tags.csv", "w", newline="") as tags_out, \
            open(out_dir / "truth_user_groups.csv", "w", newline="") as truth_out, \
            tqdm(total=n_ratings, unit="rating", disable=not progress, desc="ratings") as bar:
        ratings_out.write("userId,movieId,rating,timestamp\n")
        tags_out.write("userId,movieId,tag,timestamp\n")
        truth_out.write("userId,group\n")
        for block in range(n_blocks):
            first = block * block_users
            block_counts = counts[first:first + block_users]
            ratings, tags, groups = _block(stream(4, block), first, block_counts, movies,
                                           centres, group_share, log_weights)
            _write_ratings(ratings_out, *ratings)
            tags.to_csv(tags_out, header=False, index=False)
            pd.DataFrame({"userId": np.arange(first + 1, first + 1 + len(groups)),
                          "group": groups}).to_csv(truth_out, header=False, index=False)
            values = ratings[2]
            total += values.sum()
            total_sq += np.square(values).sum()
            n_tags += len(tags)
            bar.update(len(values))

    mean = total / n_ratings
    variance = max(total_sq / n_ratings - mean * mean, 0.0) * n_ratings / max(n_ratings - 1, 1)
    sd = math.sqrt(variance)
    stats = GeneratedStats(out_dir, n_users, n_movies, n_ratings, n_tags, n_groups, minimum,
                           int(seed), n_blocks, float(mean), sd)
    _write_readme(out_dir / "README.txt", stats, n_factors, block_users)
    return stats


def _check_arguments(n_users, n_movies, n_ratings, seed, n_groups, n_factors, min_ratings,
                     block_users) -> int:
    """Raise ValueError naming the bad argument; return the minimum ratings per user."""
    for name, value in [("n_users", n_users), ("n_movies", n_movies), ("n_ratings", n_ratings),
                        ("n_groups", n_groups), ("n_factors", n_factors),
                        ("block_users", block_users)]:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if n_ratings > n_users * n_movies:
        raise ValueError(f"n_ratings={n_ratings} exceeds n_users x n_movies = "
                         f"{n_users * n_movies}: no (user, movie) pair may be rated twice")
    if n_groups > n_users:
        raise ValueError(f"n_groups={n_groups} must not exceed n_users={n_users}")
    if min_ratings is None:
        minimum = max(1, min(MOVIELENS_MIN_RATINGS, n_ratings // (5 * n_users)))
    else:
        if isinstance(min_ratings, bool) or not isinstance(min_ratings, (int, np.integer)) \
                or not 1 <= min_ratings <= n_movies:
            raise ValueError(f"min_ratings must be an integer in 1..n_movies={n_movies}, "
                             f"got {min_ratings!r}")
        minimum = int(min_ratings)
    if n_ratings < n_users * minimum:
        raise ValueError(f"n_ratings={n_ratings} is below n_users x min_ratings = "
                         f"{n_users} x {minimum}: every user rates at least {minimum} movies")
    return minimum


def _make_movies(rng, n_movies: int, n_factors: int) -> _Movies:
    ids = np.cumsum(rng.geometric(0.6, size=n_movies)).astype(np.int64)
    ids -= ids[0] - 1
    n_genres = np.minimum(1 + rng.poisson(1.27, size=n_movies), 5)
    keys = np.log(GENRE_COUNTS) + rng.gumbel(size=(n_movies, len(GENRES)))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    genres = rank < n_genres[:, None]
    genres[rng.random(n_movies) < 0.004] = False

    embedding = rng.standard_normal((len(GENRES), n_factors))
    per_movie = np.maximum(genres.sum(axis=1, keepdims=True), 1)
    factors = (0.6 * (genres @ embedding) / np.sqrt(per_movie)
               + 0.8 * rng.standard_normal((n_movies, n_factors)))
    factors /= math.sqrt(n_factors)  # ||q_i|| ~ 1, so <c, q_i> has sd ||c|| / sqrt(F)

    log_popularity = -ZIPF_EXPONENT * np.log(rng.permutation(n_movies) + ZIPF_OFFSET)
    # b_i is independent of popularity: otherwise the mean rating would shift with the share of
    # ratings that the head takes, which depends on the number of movies and users.
    bias = MOVIE_BIAS_SD * rng.standard_normal(n_movies)
    return _Movies(ids, genres, np.ascontiguousarray(factors.T), bias, log_popularity, embedding)


def _group_centres(rng, movies: _Movies, n_groups: int, n_factors: int) -> np.ndarray:
    """c_g: each group's taste points towards 1-3 favourite genres, with a random twist."""
    favourite = rng.random((n_groups, len(GENRES))) < 2.0 / len(GENRES)
    direction = favourite @ movies.genre_embedding + rng.standard_normal((n_groups, n_factors))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return GROUP_TASTE * math.sqrt(n_factors) * direction


def _activity_counts(rng, n_users: int, n_movies: int, n_ratings: int, minimum: int):
    """Log-normal ratings per user within [minimum, n_movies], summing exactly to n_ratings."""
    z = ACTIVITY_SIGMA * rng.standard_normal(n_users)
    counts_at = lambda mu: np.clip(np.rint(np.exp(mu + z)), minimum, n_movies)  # noqa: E731
    lo, hi = math.log(minimum) - 10 * ACTIVITY_SIGMA, math.log(n_movies) + 10 * ACTIVITY_SIGMA
    for _ in range(60):
        mid = (lo + hi) / 2
        if counts_at(mid).sum() <= n_ratings:
            lo = mid
        else:
            hi = mid
    counts = counts_at(hi if counts_at(hi).sum() <= n_ratings else lo).astype(np.int64)
    missing = n_ratings - int(counts.sum())
    while missing > 0:
        room = np.flatnonzero(counts < n_movies)
        chosen = rng.choice(room, size=min(missing, len(room)), replace=False)
        counts[chosen] += 1
        missing -= len(chosen)
    return counts


def _block(rng, first_user: int, counts, movies: _Movies, centres, group_share, log_weights):
    """Ratings (userId, movieId, rating, timestamp arrays, sorted like ml-latest), tags and
    true groups of the users first_user+1 .. first_user+len(counts)."""
    n_block = len(counts)
    n_factors = centres.shape[1]
    groups = rng.choice(len(centres), size=n_block, p=group_share)
    user_factors = centres[groups] + USER_TASTE * rng.standard_normal((n_block, n_factors))
    user_factors_t = np.ascontiguousarray(user_factors.T)
    user_bias = USER_BIAS_SD * rng.standard_normal(n_block)
    span = np.minimum(np.exp(rng.normal(math.log(86_400.0), 2.5, size=n_block)) + 30.0 * counts,
                      LAST_TIMESTAMP - FIRST_TIMESTAMP)
    start = FIRST_TIMESTAMP + rng.random(n_block) * (LAST_TIMESTAMP - FIRST_TIMESTAMP - span)
    half_stars = (start >= HALF_STARS_FROM) & (rng.random(n_block) < HALF_STAR_USERS)
    tagger = rng.random(n_block) < TAGGER_USERS

    user, movie = _sample_in_slices(rng, groups, counts, log_weights)

    # Timestamps in draw order: exponential gaps, rescaled to each user's span.
    gaps = rng.exponential(size=len(user))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[starts], counts)
    elapsed /= np.repeat(elapsed[starts + counts - 1] + gaps[starts], counts)
    del gaps
    timestamp = (start[user] + span[user] * elapsed).astype(np.int64)
    del elapsed

    taste = np.zeros(len(user))
    for f in range(n_factors):
        taste += user_factors_t[f][user] * movies.factors_t[f][movie]
    taste -= np.repeat(np.bincount(user, taste, minlength=n_block) / counts, counts)
    score = (GLOBAL_MEAN + user_bias[user] + movies.bias[movie] + taste
             + NOISE_SD * rng.standard_normal(len(user)))
    half = half_stars[user]
    rating = np.where(half, np.clip(np.rint(score * 2) / 2, RATING_MIN, RATING_MAX),
                      np.clip(np.rint(score), 1.0, RATING_MAX))

    del score, taste, half
    order = np.lexsort((movie, user))
    ratings = (user[order] + np.int64(first_user + 1), movies.ids[movie[order]], rating[order],
               timestamp[order])
    tags = _tags(rng, first_user, user[tagger[user]], movie[tagger[user]],
                 timestamp[tagger[user]], movies)
    return ratings, tags, groups


def _sample_in_slices(rng, groups, counts, log_weights):
    """:func:`_sample_movies` over slices of users holding about SAMPLE_SLICE ratings each,
    so that its temporary arrays stay small whatever the block size."""
    ends = np.cumsum(counts)
    users, movies = [], []
    lo = 0
    while lo < len(counts):
        done = ends[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, done + SAMPLE_SLICE, side="right")))
        user, movie = _sample_movies(rng, groups[lo:hi], counts[lo:hi], log_weights)
        users.append((user + lo).astype(np.int32))
        movies.append(movie.astype(np.int32))
        lo = hi
    return np.concatenate(users), np.concatenate(movies)


def _sample_movies(rng, groups, counts, log_weights):
    """For each user j, counts[j] distinct movies drawn successively with probability
    ∝ exp(log_weights[groups[j]]). Returns (user, movie) grouped by user, in draw order."""
    n_movies = log_weights.shape[1]
    dense = counts > DENSE_SHARE * n_movies
    cdf = np.cumsum(np.exp(log_weights - log_weights.max(axis=1, keepdims=True)), axis=1)
    cdf /= cdf[:, -1:]
    # Rows g of the per-group CDFs shifted by g, so one searchsorted serves every group.
    stacked = (cdf + np.arange(len(cdf))[:, None]).ravel()

    need = np.where(dense, 0, counts)
    user = np.empty(0, np.int64)
    movie = np.empty(0, np.int64)
    factor = 1.3
    for _ in range(MAX_DRAW_ROUNDS):
        needy = np.flatnonzero(need > 0)
        if len(needy) == 0:
            break
        draws = np.ceil(need[needy] * factor).astype(np.int64) + 2
        new_user = np.repeat(needy, draws)
        g = groups[new_user]
        pos = np.searchsorted(stacked, g + rng.random(len(new_user)), side="right")
        new_movie = np.minimum(pos - g * n_movies, n_movies - 1)
        all_user = np.concatenate([user, new_user])
        all_movie = np.concatenate([movie, new_movie])
        _, first = np.unique(all_user * n_movies + all_movie, return_index=True)
        first.sort()  # first occurrences, in draw order
        all_user, all_movie = all_user[first], all_movie[first]
        by_user = np.argsort(all_user, kind="stable")
        all_user, all_movie = all_user[by_user], all_movie[by_user]
        rank = np.arange(len(all_user)) - np.searchsorted(all_user, all_user, side="left")
        keep = rank < counts[all_user]
        user, movie = all_user[keep], all_movie[keep]
        need = np.where(dense, 0, counts - np.bincount(user, minlength=len(counts)))
        factor *= 2
    short = np.flatnonzero(need > 0)
    if len(short):  # rare: heavy users in a steep popularity tail; start them over exactly
        keep = ~np.isin(user, short)
        user, movie = user[keep], movie[keep]
        dense[short] = True

    heavy = np.flatnonzero(dense)
    rows_at_once = max(1, GUMBEL_CELLS // n_movies)
    parts_user, parts_movie = [user], [movie]
    for lo in range(0, len(heavy), rows_at_once):
        rows = heavy[lo:lo + rows_at_once]
        keys = log_weights[groups[rows]] + rng.gumbel(size=(len(rows), n_movies))
        k = int(counts[rows].max())
        top = np.argpartition(-keys, k - 1, axis=1)[:, :k] if k < n_movies else \
            np.broadcast_to(np.arange(n_movies), (len(rows), n_movies)).copy()
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, axis=1),
                                                 axis=1), axis=1)
        taken = np.arange(k) < counts[rows][:, None]
        parts_user.append(np.broadcast_to(rows[:, None], top.shape)[taken])
        parts_movie.append(top[taken])
    user = np.concatenate(parts_user)
    movie = np.concatenate(parts_movie)
    by_user = np.argsort(user, kind="stable")
    return user[by_user], movie[by_user]


def _write_ratings(out, user, movie, rating, timestamp, rows_at_once: int = 100_000) -> None:
    """Append rows as ml-latest does (``4.0``, ``3.5``), a slice at a time to bound memory."""
    for lo in range(0, len(user), rows_at_once):
        hi = lo + rows_at_once
        label = RATING_LABELS[np.rint(rating[lo:hi] * 2).astype(np.int64)].tolist()
        rows = zip(user[lo:hi].tolist(), movie[lo:hi].tolist(), label, timestamp[lo:hi].tolist())
        out.write("".join([f"{u},{m},{r},{t}\n" for u, m, r, t in rows]))


def _tags(rng, first_user, user, movie, timestamp, movies: _Movies) -> pd.DataFrame:
    """Some of the taggers' ratings get a tag from the movie's genres or a general one."""
    tagged = rng.random(len(user)) < TAGS_PER_TAGGED_RATING
    user, movie, timestamp = user[tagged], movie[tagged], timestamp[tagged]
    genre_keys = rng.random((len(movie), len(GENRES))) * movies.genres[movie]
    genre = np.argmax(genre_keys, axis=1)
    general = (rng.random(len(movie)) < GENERAL_TAG_SHARE) | (genre_keys.max(axis=1) == 0)
    vocabulary = [GENRE_TAGS[name] for name in GENRES]
    pick = rng.random(len(movie))
    text = [GENERAL_TAGS[int(p * len(GENERAL_TAGS))] if is_general
            else vocabulary[g][int(p * len(vocabulary[g]))]
            for g, p, is_general in zip(genre.tolist(), pick.tolist(), general.tolist())]
    tags = pd.DataFrame({
        "userId": user + first_user + 1,
        "movieId": movies.ids[movie],
        "tag": text,
        "timestamp": timestamp + rng.integers(1, 900, size=len(user)),
    })
    return tags.drop_duplicates(["userId", "movieId", "tag"]).sort_values(
        ["userId", "movieId", "timestamp"], kind="stable")


def _write_movies(path: Path, rng, movies: _Movies) -> None:
    """movies.csv with made-up titles like ml-latest's ("Quiet Harbor, The (1997)")."""
    n = len(movies.ids)
    year = np.maximum(LATEST_YEAR - np.floor(rng.exponential(18.0, size=n)), 1902).astype(int)
    pattern = rng.integers(0, 5, size=n)
    adjective = rng.integers(0, len(TITLE_ADJECTIVES), size=n)
    noun = rng.integers(0, len(TITLE_NOUNS), size=(n, 2))
    name = rng.integers(0, len(TITLE_NAMES), size=n)
    titles = []
    for p, a, (n1, n2), who, y in zip(pattern.tolist(), adjective.tolist(), noun.tolist(),
                                      name.tolist(), year.tolist()):
        adj, first, second = TITLE_ADJECTIVES[a], TITLE_NOUNS[n1], TITLE_NOUNS[n2]
        title = (f"{adj} {first}", f"{adj} {first}, The", f"{first} of the {second}",
                 f"{TITLE_NAMES[who]}'s {first}", f"{first} and {second}")[p]
        titles.append(f"{title} ({y})")
    genre_names = np.array(GENRES)
    genres = ["|".join(genre_names[row]) or NO_GENRES for row in movies.genres]
    pd.DataFrame({"movieId": movies.ids, "title": titles, "genres": genres}).to_csv(
        path, index=False, quoting=csv.QUOTE_MINIMAL)


def _write_readme(path: Path, stats: GeneratedStats, n_factors: int, block_users: int) -> None:
    path.write_text(f"""\
SYNTHETIC data in the MovieLens ml-latest format. These are NOT real MovieLens ratings.

Generated by movierec (shared/synthetic.py), equivalent to
  movierec generate --users {stats.n_users} --movies {stats.n_movies} \
--ratings {stats.n_ratings} --seed {stats.seed}
with groups={stats.n_groups} factors={n_factors} min_ratings={stats.min_ratings} \
block_users={block_users}.
The same parameters give byte-identical files; another seed gives other data.

Files (as in ml-latest; ratings sorted by userId, then movieId):
  movies.csv             movieId,title,genres
  ratings.csv            userId,movieId,rating,timestamp ({stats.n_ratings} rows;
                         mean {stats.rating_mean:.3f}, sd {stats.rating_sd:.3f})
  tags.csv               userId,movieId,tag,timestamp ({stats.n_tags} rows)
  truth_user_groups.csv  userId,group: the latent taste group (0..{stats.n_groups - 1})
                         each user was drawn from, to check that clustering recovers it

Model: movie popularity is Zipf-like; ratings per user are log-normal (at least
{stats.min_ratings}); each user belongs to a latent taste group with favourite genres, which
steers both what the user watches and how they rate it; a rating is
round(mu + user bias + movie bias + user-centred <user factors, movie factors> + noise)
on the 0.5..5 scale (whole stars only before 2003, as on MovieLens).
""")
