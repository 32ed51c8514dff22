"""Hyper-parameters of the ranking estimators chosen on a validation split carved from the
training matrix, so the data a model is finally measured (or served) on never chooses them.

With the ratings' times, the split is temporal, as a live service meets its data: the latest
ratings are held out, and the model is chosen for predicting what users do next. Without them,
a random share is held out."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from shared.recsys.evaluation.accuracy import ranking_metrics, relevant_items
from shared.recsys.models.base import as_ratings, fit_with_times

VALIDATION_SHARE = 0.2
TOP_N = 10


@dataclass
class Validation:
    """A training matrix split in two: ``train`` (what candidates are fitted on and what is
    never recommended) and ``relevant`` (held-out ratings of at least 4)."""

    train: sp.csr_matrix
    relevant: sp.csr_matrix
    n_held_out: int
    train_times: sp.csr_matrix | None = None  # the times of ``train``'s ratings, when known


def validation_split(X, share: float = VALIDATION_SHARE, seed: int = 0,
                     times: sp.csr_matrix | None = None) -> Validation:
    """Hold out a ``share`` of the ratings of ``X``: with ``times`` (each rating's time, the
    same entries as ``X``), the latest, cut at one instant as the ``temporal:`` evaluation
    split cuts the whole data, and only ratings of users and movies the training part has;
    else a uniformly random share (seeded), as the ``random:`` split does."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be strictly between 0 and 1, got {share}")
    X = as_ratings(X)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    if times is None:
        order = np.random.default_rng(seed).permutation(X.nnz)
        held = np.zeros(X.nnz, dtype=bool)
        held[order[int(round((1.0 - share) * X.nnz)):]] = True
        measured = held
    else:
        times = sp.csr_matrix(times)
        times.sort_indices()
        if times.shape != X.shape or not np.array_equal(times.indices, X.indices) \
                or not np.array_equal(times.indptr, X.indptr):
            raise ValueError("times must have the entries of X")
        n_train = int(round((1.0 - share) * X.nnz))
        cut = np.sort(times.data)[min(n_train, X.nnz - 1)]
        held = times.data >= cut
        known_users = np.zeros(X.shape[0], dtype=bool)
        known_users[rows[~held]] = True
        known_movies = np.zeros(X.shape[1], dtype=bool)
        known_movies[X.indices[~held]] = True
        measured = held & known_users[rows] & known_movies[X.indices]
    train = sp.csr_matrix((X.data[~held], (rows[~held], X.indices[~held])), shape=X.shape)
    relevant = relevant_items(rows[measured], X.indices[measured], X.data[measured], X.shape)
    train_times = None if times is None else sp.csr_matrix(
        (times.data[~held], (rows[~held], X.indices[~held])), shape=X.shape)
    return Validation(train, relevant, int(measured.sum()), train_times)


def tune(estimator, grid, X, share: float = VALIDATION_SHARE, seed: int = 0, k: int = TOP_N,
         tolerance: float = 0.0, cost: str = "fit_seconds", times: sp.csr_matrix | None = None):
    """Fit a clone of ``estimator`` for each point of ``grid`` (a dict of lists, or a list of
    them, as scikit-learn's ``ParameterGrid``) on a validation split of ``X`` and measure
    nDCG@``k`` (relevant: held-out ratings >= 4; candidates: every movie the user has not
    rated in the split's training part).

    Returns ``(best_params, table)``: the parameters with the best nDCG (the first of equals,
    in grid order) and one dict per point with its parameters, ``ndcg``, ``precision`` and
    ``fit_seconds``. With a ``tolerance`` (relative, e.g. 0.01), the cheapest point within it
    of the best nDCG wins instead: for parameters that buy cost (dimensions, epochs, catalogue
    size), a difference below the validation noise is not worth paying for. ``cost`` names the
    column that measures it: the fit's seconds, or a parameter whose cost is paid elsewhere
    (``max_candidates``: on every request). ``times``: the ratings' times, for a temporal
    split (:func:`validation_split`). The parameters an estimator names in ``refit_free``
    are varied without fitting again (its ``refitted``); their points report the fit's
    seconds.
    """
    validation = validation_split(X, share, seed, times)
    return choose(estimator, grid, validation, k, tolerance, cost)


def choose(estimator, grid, validation: Validation, k: int = TOP_N, tolerance: float = 0.0,
           cost: str = "fit_seconds", fit=None):
    """:func:`tune` on a ``validation`` split made elsewhere; ``fit(model)`` fits a clone of
    ``estimator`` with a point's parameters on it (None: on ``validation.train``, with its
    times): an engine that keeps the ratings elsewhere fits from what it computed there, and
    gives a ``validation`` of a sample of its users."""
    if fit is None:
        def fit(model):
            fit_with_times(model, validation.train, validation.train_times)
    table = []
    refit_free = set(getattr(estimator, "refit_free", ()))
    fitted: dict[tuple, tuple] = {}  # the parameters a fit needs -> (model, its seconds)
    for params in ParameterGrid(grid):
        needed = tuple(sorted((n, repr(v)) for n, v in params.items() if n not in refit_free))
        if needed in fitted:
            model, fit_seconds = fitted[needed]
            model = model.refitted(**{n: v for n, v in params.items() if n in refit_free})
        else:
            model = clone(estimator).set_params(**params)
            start = time.perf_counter()
            fit(model)
            fit_seconds = time.perf_counter() - start
            fitted[needed] = model, fit_seconds
        metrics = ranking_metrics(model.score_users, validation.train, validation.relevant, k=k,
                                  n_jobs=-1)
        table.append({**params, "ndcg": metrics["ndcg"], "precision": metrics["precision"],
                      "fit_seconds": fit_seconds})
    if not table:
        raise ValueError("the grid is empty")
    top = max(row["ndcg"] for row in table)
    close = [i for i, row in enumerate(table) if row["ndcg"] >= top * (1.0 - tolerance)]
    best = (max(close, key=lambda i: (table[i]["ndcg"], -i)) if tolerance <= 0
            else min(close, key=lambda i: (table[i][cost], i)))
    best_params = {name: table[best][name] for name in ParameterGrid(grid)[best]}
    return best_params, table
