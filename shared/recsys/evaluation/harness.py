"""Fit named models on the folds of a split and measure them (after Surprise's ``cross_validate``).

The models are built by :mod:`shared.recsys.models.registry`, the same factories the trainer uses, so an
offline number describes the estimator that is served.
"""
from __future__ import annotations

import sys
import time
from typing import Iterable

import numpy as np
from tqdm import tqdm

from shared.recsys.evaluation.accuracy import mae, ranking_metrics, relevant_items, rmse
from shared.recsys.evaluation.split import Fold, Split, parse_split
from shared.recsys.ratings import RATING_MAX, RATING_MIN
from shared.recsys.models.registry import make, resolve

TOP_N = 10
RESULT_KEYS = ("model", "split", "folds", "rmse", "mae", f"precision_at_{TOP_N}",
               f"recall_at_{TOP_N}", f"ndcg_at_{TOP_N}", "fit_seconds", "n_test")
_AVERAGED = RESULT_KEYS[3:9]


def evaluate(models: Iterable[str], split: Split | str, data, progress: bool = True,
             batch_size: int = 256) -> list[dict]:
    """Measure each model on each fold of ``split`` over ``data``; one result dict per model.

    ``data`` is a ratings frame, an object with ``.ratings``, or a dataset folder (which the
    ``u1-u5`` split needs). Metrics and ``fit_seconds`` are means over folds; ``n_test`` is the
    number of held-out ratings scored, summed over folds. Keys are :data:`RESULT_KEYS`.
    """
    split = parse_split(split) if isinstance(split, str) else split
    models = list(models)
    for name in models:
        resolve(name)  # fail on a bad name before any fitting
    per_model: dict[str, list[dict]] = {name: [] for name in models}
    bar = tqdm(total=split.n_folds * len(models), desc=f"evaluate {split}", unit="fit",
               file=sys.stderr, disable=not progress)
    try:
        for fold in split.folds(data):
            if fold.dropped and progress:
                bar.write(f"{fold.name}: {fold.dropped} held-out ratings dropped "
                          "(their user or movie is not in training)", file=sys.stderr)
            for name in models:
                bar.set_postfix_str(f"{name} on {fold.name}")
                per_model[name].append(measure(make(name), fold, batch_size))
                bar.update()
    finally:
        bar.close()
    return [_summary(name, str(split), runs) for name, runs in per_model.items()]


def measure(model, fold: Fold, batch_size: int = 256) -> dict:
    """Fit ``model`` on ``fold.train`` and score it on the fold's held-out ratings."""
    started = time.perf_counter()
    model.fit(fold.train)
    fit_seconds = time.perf_counter() - started

    if fold.known is None:
        score_rows = model.score_users
        predicted = model.predict(fold.test_users, fold.test_items)
    else:
        def score_rows(rows):
            return model.predict_unseen(fold.known[rows])

        predicted = _predict_pairs(score_rows, fold.test_users, fold.test_items, batch_size)
    relevant = relevant_items(fold.test_users, fold.test_items, fold.test_ratings, fold.seen.shape)
    ranking = ranking_metrics(score_rows, fold.seen, relevant, k=TOP_N, batch_size=batch_size)
    return {
        "rmse": rmse(fold.test_ratings, predicted),
        "mae": mae(fold.test_ratings, predicted),
        f"precision_at_{TOP_N}": ranking["precision"],
        f"recall_at_{TOP_N}": ranking["recall"],
        f"ndcg_at_{TOP_N}": ranking["ndcg"],
        "fit_seconds": fit_seconds,
        "n_test": fold.n_test,
    }


def _predict_pairs(score_rows, users: np.ndarray, items: np.ndarray, batch_size: int) -> np.ndarray:
    """Predicted ratings of (users[j], items[j]) from whole score rows, ``batch_size`` rows at a time."""
    predicted = np.empty(len(users), dtype=np.float64)
    rows = np.unique(users)
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        scores = score_rows(batch)
        mask = np.isin(users, batch)
        predicted[mask] = scores[np.searchsorted(batch, users[mask]), items[mask]]
    return np.clip(predicted, RATING_MIN, RATING_MAX)


def _summary(name: str, split: str, runs: list[dict]) -> dict:
    result = {"model": name, "split": split, "folds": len(runs)}
    for key in _AVERAGED:
        result[key] = float(np.mean([run[key] for run in runs])) if runs else float("nan")
    result["n_test"] = int(sum(run["n_test"] for run in runs))
    return {key: result[key] for key in RESULT_KEYS}
