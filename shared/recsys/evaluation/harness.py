"""Fit named models on the folds of a split and measure them (after Surprise's ``cross_validate``).

The models are built by :mod:`shared.recsys.models.registry`, the same factories the trainer uses,
and the strategies the API serves are measured as ``served:<strategy>``
(:mod:`shared.recsys.evaluation.served`), so an offline number describes what is served.

Every model is ranked the same way: each test user's top 10 of the movies they have not rated
in what the model was shown. A model predicts ratings, and so has an RMSE and MAE, unless it
declares ``predicts_ratings = False`` (a top-N model, a served strategy) or its ``predict``
raises ``NotImplementedError``; those two are then NaN.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

from shared.recsys.evaluation.accuracy import (
    coverage,
    evaluated_rows,
    list_metrics,
    mae,
    mean_popularity_percentile,
    popularity_percentiles,
    relevant_items,
    rmse,
    top_k_lists,
)
from shared.recsys.evaluation.served import PublishedVersion, ServedSetup, served_names, strategy_of
from shared.recsys.evaluation.split import Fold, Split, parse_split
from shared.recsys.models import registry
from shared.recsys.ratings import RATING_MAX, RATING_MIN

TOP_N = 10
RESULT_KEYS = ("model", "split", "folds", "rmse", "mae", f"precision_at_{TOP_N}",
               f"recall_at_{TOP_N}", f"ndcg_at_{TOP_N}", f"coverage_at_{TOP_N}",
               f"popularity_percentile_at_{TOP_N}", "fit_seconds", "n_test")
_AVERAGED = RESULT_KEYS[3:11]


def available() -> list[str]:
    """Every model name :func:`evaluate` accepts: the registry's and the served strategies'."""
    return [*registry.available(), *served_names()]


def check_name(name: str) -> None:
    """``KeyError`` naming the accepted names when ``name`` is not one of :func:`available`."""
    try:
        if strategy_of(name) is None:
            registry.resolve(name)
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose from: {', '.join(available())}") from None


def evaluate(models: Iterable[str], split: Split | str, data, progress: bool = True,
             batch_size: int = 256, served: ServedSetup | None = None) -> list[dict]:
    """Measure each model on each fold of ``split`` over ``data``; one result dict per model.

    ``data`` is a ratings frame, an object with ``.ratings``, or a dataset folder (which the
    ``u1-u5`` split needs). ``served`` configures the ``served:`` models, which need it; they
    share one fitted version per fold. Metrics and ``fit_seconds`` are means over folds;
    ``n_test`` is the number of held-out ratings, summed over folds. Keys are :data:`RESULT_KEYS`.
    """
    split = parse_split(split) if isinstance(split, str) else split
    models = list(models)
    for name in models:  # fail on a bad name before any fitting
        check_name(name)
        if strategy_of(name) is not None and served is None:
            raise ValueError(f"{name} needs the service's set-up (ServedSetup) to be measured")
    per_model: dict[str, list[dict]] = {name: [] for name in models}
    bar = tqdm(total=split.n_folds * len(models), desc=f"evaluate {split}", unit="fit",
               file=sys.stderr, disable=not progress)
    try:
        for fold in split.folds(data):
            if fold.dropped and progress:
                bar.write(f"{fold.name}: {fold.dropped} held-out ratings dropped "
                          "(their user or movie is not in training)", file=sys.stderr)
            version = None
            for name in models:
                bar.set_postfix_str(f"{name} on {fold.name}")
                strategy = strategy_of(name)
                if strategy is None:
                    run = measure(registry.make(name), fold, batch_size)
                else:
                    if version is None:
                        assert served is not None  # checked above, before any fitting
                        version = PublishedVersion(fold, served)
                    run = measure_served(strategy, version, batch_size)
                per_model[name].append(run)
                bar.update()
    finally:
        bar.close()
    return [_summary(name, str(split), runs) for name, runs in per_model.items()]


def measure(model, fold: Fold, batch_size: int = 256) -> dict:
    """Fit ``model`` on ``fold.train`` and score it on the fold's held-out ratings."""
    started = time.perf_counter()
    model.fit(fold.train)
    fit_seconds = time.perf_counter() - started

    predicted = None
    if fold.known is None:
        score_rows = model.score_users
        if getattr(model, "predicts_ratings", True):
            try:
                predicted = model.predict(fold.test_users, fold.test_items)
            except NotImplementedError:
                predicted = None
    else:
        def score_rows(rows):
            return model.predict_unseen(fold.known[rows])

        if getattr(model, "predicts_ratings", True):
            predicted = _predict_pairs(score_rows, fold.test_users, fold.test_items, batch_size)
    relevant = relevant_items(fold.test_users, fold.test_items, fold.test_ratings, fold.seen.shape)
    rows = evaluated_rows(relevant)
    ranked = top_k_lists(score_rows, fold.seen, rows, k=TOP_N, batch_size=batch_size)
    return _run(fold, predicted, ranked, relevant[rows], fit_seconds, batch_size)


def measure_served(strategy: str, version: PublishedVersion, batch_size: int = 256) -> dict:
    """Score the lists ``strategy`` serves from ``version`` on its fold's held-out ratings; the
    fit time is the version's (the pipeline and its counters)."""
    fold = version.fold
    relevant = relevant_items(fold.test_users, fold.test_items, fold.test_ratings, fold.seen.shape)
    rows = evaluated_rows(relevant)
    ranked = version.lists(strategy, rows, TOP_N)
    return _run(fold, None, ranked, relevant[rows], version.fit_seconds, batch_size)


def _run(fold: Fold, predicted, ranked: np.ndarray, relevant, fit_seconds: float,
         batch_size: int) -> dict:
    """One model's numbers on one fold: rating error (NaN without ``predicted``), the
    quality, coverage and popularity of the ``ranked`` lists."""
    ranking = list_metrics(ranked, relevant, k=TOP_N, batch_size=batch_size)
    no_rating = float("nan")
    return {
        "rmse": no_rating if predicted is None else rmse(fold.test_ratings, predicted),
        "mae": no_rating if predicted is None else mae(fold.test_ratings, predicted),
        f"precision_at_{TOP_N}": ranking["precision"],
        f"recall_at_{TOP_N}": ranking["recall"],
        f"ndcg_at_{TOP_N}": ranking["ndcg"],
        f"coverage_at_{TOP_N}": coverage(ranked, fold.train.shape[1]),
        f"popularity_percentile_at_{TOP_N}": mean_popularity_percentile(
            ranked, popularity_percentiles(fold.train)),
        "fit_seconds": fit_seconds,
        "n_test": fold.n_test,
    }


def _predict_pairs(score_rows, users: np.ndarray, items: np.ndarray, batch_size: int) -> np.ndarray:
    """Predicted ratings of (users[j], items[j]) from whole score rows, ``batch_size`` rows at
    a time."""
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
