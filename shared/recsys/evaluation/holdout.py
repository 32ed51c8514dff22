"""A new version measured on ratings held out of its own training snapshot, and the gate that
compares it with the active version before it may replace it.

The trainer holds out a share of the snapshot's ratings, fits the version on the rest and
measures what users get: the lists of the served default strategy (nDCG@10 and P@10, relevant
= held-out ratings of 4 or more, as ``movierec evaluate`` does) and the rating error of
``/predictions`` (RMSE). Each version's manifest keeps its numbers; the next version must not be
worse than the active one by more than a tolerance.

Two ways to hold out (``HOLDOUT_SPLITS``):

- ``temporal``, the default: the latest ratings, as a live service is judged, on what users
  do next. The version that serves is then fitted again on the whole snapshot, since a model
  that never saw the latest ratings would miss the movies people rate now.
- ``random``: the (user, movie) pairs whose hash falls in a share of its range. Successive
  retrains hold out the same pairs, so the gate compares models rather than samples, and the
  measured fit is the one served (half the cost of a retrain).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from shared.recsys import strategies
from shared.recsys.evaluation.accuracy import (
    NO_ITEM,
    ndcg_at_k,
    precision_at_k,
    relevant_items,
    rmse,
)
from shared.recsys.ratings import RATING_MAX, RATING_MIN, rating_matrix
from shared.recsys.served import LiveModel
from shared.recsys.vocabulary import Vocabulary

TOP_N = 10
NOISE_ERRORS = 2.0  # standard errors of a difference of list measures that count as noise
MIN_USERS_LISTED = 10  # fewer users' lists say too little to refuse a version for them


HOLDOUT_SPLITS = ("temporal", "random")


def split_snapshot(snapshot: pd.DataFrame, fraction: float,
                   split: str = "temporal") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training part, held-out ratings): a ``fraction`` of the rated entries, chosen by
    ``split`` (``HOLDOUT_SPLITS``); favourite marks without a rating always train.

    ``temporal`` holds out the ratings from the instant that leaves ``1 - fraction`` of them
    before it (all of one second go the same way, as ``validation_split`` cuts); ``random`` the
    pairs whose hash falls in the first ``fraction`` of its range, so that successive retrains
    hold out the same pairs."""
    if not 0 < fraction < 1:
        raise ValueError(f"the held-out share must be between 0 and 1, got {fraction}")
    if split not in HOLDOUT_SPLITS:
        raise ValueError(f"the held-out split must be one of {', '.join(HOLDOUT_SPLITS)}, "
                         f"got {split!r}")
    rated = snapshot["rating"].to_numpy() > 0
    held = (_latest(snapshot["ts"].to_numpy(), rated, fraction) if split == "temporal"
            else hashed_pairs(snapshot, fraction)) & rated
    return snapshot[~held].reset_index(drop=True), snapshot[held].reset_index(drop=True)


def _latest(ts: np.ndarray, rated: np.ndarray, fraction: float) -> np.ndarray:
    times = np.sort(ts[rated])
    if not len(times):
        return np.zeros(len(ts), dtype=bool)
    cut = times[min(int(round((1 - fraction) * len(times))), len(times) - 1)]
    return ts > cut if cut == times[0] else ts >= cut  # never every rating: some must train


def hashed_pairs(snapshot: pd.DataFrame, fraction: float) -> np.ndarray:
    """Whether each (user, movie) pair's hash falls in the first ``fraction`` of its range:
    the same pairs in every retrain, and in any slice of the snapshot."""
    users = snapshot["user_id"].to_numpy().astype(np.uint64)
    movies = snapshot["movie_id"].to_numpy().astype(np.uint64)
    with np.errstate(over="ignore"):
        mixed = users * np.uint64(0x9E3779B97F4A7C15) ^ movies * np.uint64(0xC2B2AE3D27D4EB4F)
        mixed ^= mixed >> np.uint64(29)
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(32)
    return mixed < np.uint64(int(fraction * 2.0**64))


def holdout_metrics(live: LiveModel, train: pd.DataFrame, holdout: pd.DataFrame,
                    max_users: int = 2000, max_pairs: int = 200_000, seed: int = 0,
                    popularity: np.ndarray | None = None,
                    predict: Callable[[pd.DataFrame], np.ndarray] | None = None) -> dict:
    """nDCG@10 and P@10 of the lists of the default strategy (each user's training ratings
    as their live ratings) and RMSE of the rating model, on ``holdout``; at most ``max_users``
    users, drawn at random (:func:`listed_users`), are listed, and at most ``max_pairs``
    ratings predicted (the cost of measuring stays bounded however large the snapshot).

    ``train`` needs to hold only the listed users' ratings when ``popularity`` gives every
    movie's number of training ratings (by ``live.movies`` index; None: counted in
    ``train``): an engine that keeps the snapshot elsewhere brings no more to the driver.
    Such an engine also gives ``predict``: the rating model's predictions of held-out rows
    (users and movies the version knows) from their users' training ratings, made where
    those are (None: from their rows of ``train``). Either way the ratings are predicted as
    ``/predictions`` predicts them, from the user's ratings, not from what the fit kept of
    its users (a stored version keeps none)."""
    known = _known(live, holdout)
    listed = listed_users(live, holdout, max_users, seed)
    return {"held_out": int(len(holdout)), "users_listed": int(len(listed)),
            f"ndcg_at_{TOP_N}": None, f"precision_at_{TOP_N}": None, "rmse": None,
            **_list_quality(live, train, known, listed, popularity),
            **_rating_error(live, train, known if len(known) <= max_pairs else
                            predicted_pairs(known, max_pairs, seed), predict)}


def predicted_pairs(known: pd.DataFrame, max_pairs: int, seed: int = 0) -> pd.DataFrame:
    """``max_pairs`` of the ``known`` held-out ratings, drawn at random: the same ones
    whatever the order of the rows (a snapshot's follows Redis's, which differs between
    servers)."""
    ordered = known.sort_values(["user_id", "movie_id"], kind="stable", ignore_index=True)
    return ordered.sample(max_pairs, random_state=seed)


def listed_users(live: LiveModel, holdout: pd.DataFrame, max_users: int = 2000,
                 seed: int = 0) -> np.ndarray:
    """The users :func:`holdout_metrics` lists: those known to ``live`` with a held-out
    rating of 4 or more, at most ``max_users`` drawn at random; increasing."""
    known = _known(live, holdout)
    listed = np.unique(known.loc[known["rating"] >= 4.0, "user_id"].to_numpy())
    if len(listed) > max_users:
        listed = np.sort(np.random.default_rng(seed).choice(listed, max_users, replace=False))
    return listed


def _known(live: LiveModel, holdout: pd.DataFrame) -> pd.DataFrame:
    """The held-out ratings of users and movies ``live`` knows."""
    known = holdout[live.users.index(holdout["user_id"].to_numpy(), missing="negative") >= 0]
    return known[live.movies.index(known["movie_id"].to_numpy(), missing="negative") >= 0]


def gate(new: dict, active: dict | None, tolerance: float) -> list[str]:
    """Why ``new`` (holdout metrics) may not replace ``active`` (its own, None without any):
    its lists below the most-popular list's on the same users, or below the active version's
    nDCG@10, by more than ``tolerance`` of it; or its RMSE above the active one's by more.
    Empty when it may. The active version's numbers are not read when they were measured on
    another kind of split (a version measured before ``split`` was recorded was measured on
    the ``random`` one).

    A list measure over few users is noisy, so nDCG must fall further still, by
    ``NOISE_ERRORS`` standard errors of the difference, and lists measured on fewer than
    ``MIN_USERS_LISTED`` users are not compared at all. On ml-latest-small the latest 10 % of
    ratings list 25 users, whose nDCG@10 has a standard error near 0.04 on a mean near 0.14:
    too few to tell a most-popular ranker (0.089) from the default (0.144), and the gate rests
    on RMSE (1,290 ratings). A hash-chosen 10 % lists about 600 users (a standard error of
    0.008)."""
    reasons = []
    if (new.get("users_listed") or 0) < MIN_USERS_LISTED:
        new = {**new, f"ndcg_at_{TOP_N}": None}
    ndcg, floor = new.get(f"ndcg_at_{TOP_N}"), new.get(f"most_popular_ndcg_at_{TOP_N}")
    noise = NOISE_ERRORS * (new.get("gain_over_most_popular_se") or 0.0)
    if ndcg is not None and floor and ndcg < floor * (1 - tolerance) - noise:
        reasons.append(f"nDCG@{TOP_N} {ndcg:.4f} is below the most-popular list's {floor:.4f} "
                       f"on the same users by more than {tolerance:.0%}{_and(noise)}")
    if not active or active.get("split", "random") != new.get("split", "random"):
        return reasons
    old_ndcg = active.get(f"ndcg_at_{TOP_N}")
    noise = NOISE_ERRORS * float(np.hypot(new.get(f"ndcg_at_{TOP_N}_se") or 0.0,
                                          active.get(f"ndcg_at_{TOP_N}_se") or 0.0))
    if ndcg is not None and old_ndcg and ndcg < old_ndcg * (1 - tolerance) - noise:
        reasons.append(f"nDCG@{TOP_N} {ndcg:.4f} is below the active version's {old_ndcg:.4f} "
                       f"by more than {tolerance:.0%}{_and(noise)}")
    error, old_error = new.get("rmse"), active.get("rmse")
    if error is not None and old_error and error > old_error * (1 + tolerance):
        reasons.append(f"RMSE {error:.4f} is above the active version's {old_error:.4f} "
                       f"by more than {tolerance:.0%}")
    return reasons


def _and(noise: float) -> str:
    return f" and {noise:.4f} of noise" if noise else ""


def _list_quality(live: LiveModel, train: pd.DataFrame, known: pd.DataFrame,
                  listed: np.ndarray, popularity: np.ndarray | None) -> dict:
    if not len(listed):
        return {}
    mine = train[train["user_id"].isin(listed)]
    ratings_of = {u: dict(zip(g["movie_id"].tolist(), g["rating"].tolist()))
                  for u, g in mine.groupby("user_id")}
    n_movies = len(live.movies)
    if popularity is None:
        popularity = np.bincount(live.movies.index(
            train.loc[train["rating"] > 0, "movie_id"].to_numpy()), minlength=n_movies)
    popular = np.argsort(-np.asarray(popularity), kind="stable")
    ranked = np.full((len(listed), TOP_N), NO_ITEM, dtype=np.int64)
    floor = np.full((len(listed), TOP_N), NO_ITEM, dtype=np.int64)
    for row, user in enumerate(listed):
        ratings = ratings_of.get(user, {})
        items = strategies.recommend(live, ratings, None, (), TOP_N,
                                     strategies.DEFAULT_STRATEGY, user_id=int(user)).items
        movies = [item["movie_id"] for item in items]
        ranked[row, :len(movies)] = live.movies.index(movies)
        head = popular[:TOP_N + len(ratings)]
        head = head[~np.isin(head, live.movies.index(list(ratings)))][:TOP_N]
        floor[row, :len(head)] = head
    rows = np.searchsorted(listed, known["user_id"].to_numpy())
    inside = ((rows < len(listed))
              & (listed[np.minimum(rows, len(listed) - 1)] == known["user_id"].to_numpy()))
    relevant = relevant_items(rows[inside], live.movies.index(known["movie_id"].to_numpy()[inside]),
                              known["rating"].to_numpy()[inside], (len(listed), n_movies))
    ndcg = ndcg_at_k(ranked, relevant, TOP_N)
    gain = ndcg - ndcg_at_k(floor, relevant, TOP_N)
    return {f"ndcg_at_{TOP_N}": float(ndcg.mean()),
            f"ndcg_at_{TOP_N}_se": _standard_error(ndcg),
            f"precision_at_{TOP_N}": float(precision_at_k(ranked, relevant, TOP_N).mean()),
            f"most_popular_ndcg_at_{TOP_N}": float((ndcg - gain).mean()),
            "gain_over_most_popular_se": _standard_error(gain)}


def predicted_from(recommender, train: pd.DataFrame, known: pd.DataFrame,
                   movies: Vocabulary) -> np.ndarray:
    """``recommender``'s predictions of the ``known`` rows (pairwise, clipped), each user's
    ratings in ``train`` as theirs (``predict_unseen_at``)."""
    users = Vocabulary(known["user_id"].to_numpy())
    theirs = train[(train["rating"].to_numpy() > 0)
                   & (users.index(train["user_id"].to_numpy(), missing="negative") >= 0)]
    X, _, _ = rating_matrix(theirs, users, movies)
    return recommender.predict_unseen_at(X, users.index(known["user_id"].to_numpy()),
                                         movies.index(known["movie_id"].to_numpy()))


def _standard_error(values: np.ndarray) -> float | None:
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None


def _rating_error(live: LiveModel, train: pd.DataFrame, known: pd.DataFrame,
                  predict=None) -> dict:
    if live.recommender is None or not len(known):
        return {}
    predicted = np.asarray(predict(known) if predict is not None
                           else predicted_from(live.recommender, train, known, live.movies))
    return {"rmse": rmse(known["rating"].to_numpy(), np.clip(predicted, RATING_MIN, RATING_MAX))}
