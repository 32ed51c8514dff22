"""A new version measured on ratings held out of its own training snapshot, and the gate that
compares it with the active version before it may replace it.

The trainer holds out a random share of the snapshot's ratings, fits the version on the rest
(the version served is that one: a refit on everything would double the cost of a retrain)
and measures what users get: the lists of the served default strategy (nDCG@10 and P@10,
relevant = held-out ratings of 4 or more, as ``movierec evaluate`` does) and the rating
error of ``/predictions`` (RMSE). Each version's manifest keeps its numbers; the next version
must not be worse than the active one by more than a tolerance.
"""
from __future__ import annotations

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
from shared.recsys.ratings import RATING_MAX, RATING_MIN
from shared.recsys.served import LiveModel

TOP_N = 10


def split_snapshot(snapshot: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training part, held-out ratings): the rated (user, movie) pairs whose hash falls in
    the first ``fraction`` of its range; favourite marks without a rating always train. The
    hash, not a random draw, picks them, so that successive retrains hold out the same pairs:
    two versions of nearly the same data are measured on nearly the same ratings, and the
    gate compares models, not samples."""
    if not 0 < fraction < 1:
        raise ValueError(f"the held-out share must be between 0 and 1, got {fraction}")
    users = snapshot["user_id"].to_numpy().astype(np.uint64)
    movies = snapshot["movie_id"].to_numpy().astype(np.uint64)
    with np.errstate(over="ignore"):
        mixed = users * np.uint64(0x9E3779B97F4A7C15) ^ movies * np.uint64(0xC2B2AE3D27D4EB4F)
        mixed ^= mixed >> np.uint64(29)
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(32)
    held = (mixed < np.uint64(int(fraction * 2.0**64))) & (snapshot["rating"].to_numpy() > 0)
    return snapshot[~held].reset_index(drop=True), snapshot[held].reset_index(drop=True)


def holdout_metrics(live: LiveModel, train: pd.DataFrame, holdout: pd.DataFrame,
                    max_users: int = 2000, max_pairs: int = 200_000, seed: int = 0) -> dict:
    """nDCG@10 and P@10 of the lists of the default strategy (each user's training ratings
    as their live ratings) and RMSE of the rating model, on ``holdout``; at most ``max_users``
    users, drawn at random, are listed, and at most ``max_pairs`` ratings predicted (the cost
    of measuring stays bounded however large the snapshot)."""
    known = holdout[live.users.index(holdout["user_id"].to_numpy(), missing="negative") >= 0]
    known = known[live.movies.index(known["movie_id"].to_numpy(), missing="negative") >= 0]
    listed = np.unique(known.loc[known["rating"] >= 4.0, "user_id"].to_numpy())
    if len(listed) > max_users:
        listed = np.sort(np.random.default_rng(seed).choice(listed, max_users, replace=False))
    return {"held_out": int(len(holdout)), "users_listed": int(len(listed)),
            f"ndcg_at_{TOP_N}": None, f"precision_at_{TOP_N}": None, "rmse": None,
            **_list_quality(live, train, known, listed),
            **_rating_error(live, known if len(known) <= max_pairs else
                            known.sample(max_pairs, random_state=seed))}


def gate(new: dict, active: dict | None, tolerance: float) -> list[str]:
    """Why ``new`` (holdout metrics) may not replace ``active`` (its own, None without any):
    nDCG@10 below the active one's by more than ``tolerance`` of it, or RMSE above by more.
    Empty when it may."""
    if not active:
        return []
    reasons = []
    ndcg, old_ndcg = new.get(f"ndcg_at_{TOP_N}"), active.get(f"ndcg_at_{TOP_N}")
    if ndcg is not None and old_ndcg and ndcg < old_ndcg * (1 - tolerance):
        reasons.append(f"nDCG@{TOP_N} {ndcg:.4f} is below the active version's {old_ndcg:.4f} "
                       f"by more than {tolerance:.0%}")
    error, old_error = new.get("rmse"), active.get("rmse")
    if error is not None and old_error and error > old_error * (1 + tolerance):
        reasons.append(f"RMSE {error:.4f} is above the active version's {old_error:.4f} "
                       f"by more than {tolerance:.0%}")
    return reasons


def _list_quality(live: LiveModel, train: pd.DataFrame, known: pd.DataFrame,
                  listed: np.ndarray) -> dict:
    if not len(listed):
        return {}
    mine = train[train["user_id"].isin(listed)]
    ratings_of = {u: dict(zip(g["movie_id"].tolist(), g["rating"].tolist()))
                  for u, g in mine.groupby("user_id")}
    ranked = np.full((len(listed), TOP_N), NO_ITEM, dtype=np.int64)
    for row, user in enumerate(listed):
        items = strategies.recommend(live, ratings_of.get(user, {}), None, (), TOP_N,
                                     strategies.DEFAULT_STRATEGY).items
        movies = [item["movie_id"] for item in items]
        ranked[row, :len(movies)] = live.movies.index(movies)
    rows = np.searchsorted(listed, known["user_id"].to_numpy())
    inside = ((rows < len(listed))
              & (listed[np.minimum(rows, len(listed) - 1)] == known["user_id"].to_numpy()))
    relevant = relevant_items(rows[inside], live.movies.index(known["movie_id"].to_numpy()[inside]),
                              known["rating"].to_numpy()[inside], (len(listed), len(live.movies)))
    return {f"ndcg_at_{TOP_N}": float(ndcg_at_k(ranked, relevant, TOP_N).mean()),
            f"precision_at_{TOP_N}": float(precision_at_k(ranked, relevant, TOP_N).mean())}


def _rating_error(live: LiveModel, known: pd.DataFrame) -> dict:
    if live.recommender is None or not len(known):
        return {}
    users = live.users.index(known["user_id"].to_numpy())
    items = live.movies.index(known["movie_id"].to_numpy())
    predicted = live.recommender.predict(users, items)  # pairwise: only the held-out pairs
    return {"rmse": rmse(known["rating"].to_numpy(), np.clip(predicted, RATING_MIN, RATING_MAX))}
