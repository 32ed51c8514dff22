"""Accuracy metrics: rating error (RMSE, MAE) and top-N quality on held-out favourites.

Top-N follows the usual offline protocol: a user's relevant items are their held-out ratings of
at least 4 (a favourite, seed 001); the candidates are every movie the user has not already rated
in what the model was shown; the model ranks candidates by predicted score. Users without a
held-out favourite say nothing about ranking and are skipped. Beside their quality, the lists'
catalogue coverage and the popularity of what they recommend show whether a gain is only
popularity.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed

from shared.recsys.ratings import FAVOURITE_RATING

NO_ITEM = -1  # an empty rank of a list shorter than k


def rmse(truth, predicted) -> float:
    """Root mean squared error."""
    diff = np.asarray(truth, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    return float(np.sqrt(np.mean(diff ** 2)))


def mae(truth, predicted) -> float:
    """Mean absolute error."""
    diff = np.asarray(truth, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    return float(np.mean(np.abs(diff)))


def relevant_items(users, items, ratings, shape,
                   threshold: float = FAVOURITE_RATING) -> sp.csr_matrix:
    """Boolean rows x movies matrix of the held-out pairs rated at least ``threshold``."""
    users, items = np.asarray(users), np.asarray(items)
    good = np.asarray(ratings) >= threshold
    rel = sp.csr_matrix((np.ones(good.sum(), dtype=bool), (users[good], items[good])), shape=shape)
    rel.sum_duplicates()
    return rel


def top_k_items(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """Column indices of the ``k`` highest scores of each row, best first, skipping ``exclude``.

    ``scores`` is modified in place where ``exclude`` is set. Rows with fewer than ``k``
    candidates are padded with excluded columns, which are never relevant, so padding only ever
    counts as a miss.
    """
    if exclude is not None and exclude.nnz:
        rows = np.repeat(np.arange(exclude.shape[0]), np.diff(exclude.indptr))
        scores[rows, exclude.indices] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    best_first = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, best_first, axis=1)


def _hits(ranked: np.ndarray, relevant, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows x k) booleans "the item at this rank is relevant", and each row's relevant count.
    A rank holding :data:`NO_ITEM` (a list shorter than ``k``) is a miss."""
    if sp.issparse(relevant):
        relevant = relevant.toarray()
    relevant = np.asarray(relevant, dtype=bool)
    ranked = ranked[:, :k]
    hits = np.take_along_axis(relevant, np.maximum(ranked, 0), axis=1) & (ranked != NO_ITEM)
    return hits, relevant.sum(axis=1)


def precision_at_k(ranked: np.ndarray, relevant, k: int = 10) -> np.ndarray:
    """Per row, the share of the top ``k`` that is relevant (hits / k)."""
    hits, _ = _hits(ranked, relevant, k)
    return hits.sum(axis=1) / k


def recall_at_k(ranked: np.ndarray, relevant, k: int = 10) -> np.ndarray:
    """Per row, the share of the relevant items found in the top ``k`` (hits / |relevant|)."""
    hits, n_relevant = _hits(ranked, relevant, k)
    return hits.sum(axis=1) / np.maximum(n_relevant, 1)


def ndcg_at_k(ranked: np.ndarray, relevant, k: int = 10) -> np.ndarray:
    r"""Per row, binary-gain nDCG of the top ``k``.

    .. math:: \mathrm{DCG} = \sum_{j=1}^{k} \frac{[\text{item}_j \text{ relevant}]}{\log_2(j+1)},
       \qquad \mathrm{nDCG} = \mathrm{DCG} / \mathrm{DCG}_{\text{ideal}}

    where the ideal list puts all ``min(|relevant|, k)`` relevant items first.
    """
    hits, n_relevant = _hits(ranked, relevant, k)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discount[: hits.shape[1]]
    ideal = np.r_[0.0, np.cumsum(discount)][np.minimum(n_relevant, k)]
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def evaluated_rows(relevant: sp.csr_matrix) -> np.ndarray:
    """The rows with at least one relevant item: the users a ranking is measured on."""
    relevant = sp.csr_matrix(relevant)
    return np.flatnonzero(np.diff(relevant.indptr))


def top_k_lists(score_rows: Callable[[np.ndarray], np.ndarray], seen: sp.csr_matrix,
                rows: np.ndarray, k: int = 10, batch_size: int = 256, n_jobs: int = 1
                ) -> np.ndarray:
    """(len(rows), k) column indices of each row's ``k`` best-scored movies, best first, never
    one in ``seen``; :data:`NO_ITEM` where a row has fewer than ``k`` candidates.

    ``score_rows(rows)`` returns the model's scores of every movie for those rows; they are asked
    for ``batch_size`` rows at a time so memory stays at ``batch_size x n_movies`` (times
    ``n_jobs``, the threads ranking batches, -1: one per core; ``score_rows`` must then be
    safe to call from several threads, as a fitted model's ``score_users`` is)."""
    ranked = np.full((len(rows), min(k, seen.shape[1])), NO_ITEM, dtype=np.int64)

    def rank(start: int) -> None:
        batch = rows[start:start + batch_size]
        scores = np.array(score_rows(batch), dtype=np.float64)
        top = top_k_items(scores, k, exclude=seen[batch])
        top[np.take_along_axis(scores, top, axis=1) == -np.inf] = NO_ITEM  # the padding
        ranked[start:start + len(batch)] = top

    starts = range(0, len(rows), batch_size)
    if n_jobs == 1:
        for start in starts:
            rank(start)
    else:
        Parallel(n_jobs=n_jobs, prefer="threads")(delayed(rank)(start) for start in starts)
    return ranked


def list_metrics(ranked: np.ndarray, relevant: sp.csr_matrix, k: int = 10,
                 batch_size: int = 256) -> dict:
    """Mean precision, recall and nDCG at ``k`` of ranked lists (one per row of ``relevant``,
    :data:`NO_ITEM` for an empty rank)."""
    relevant = sp.csr_matrix(relevant)
    totals = np.zeros(3)
    for start in range(0, len(ranked), batch_size):
        top = ranked[start:start + batch_size]
        rel = relevant[start:start + batch_size].toarray()
        totals += [precision_at_k(top, rel, k).sum(), recall_at_k(top, rel, k).sum(),
                   ndcg_at_k(top, rel, k).sum()]
    means = totals / len(ranked) if len(ranked) else np.full(3, np.nan)
    return {"precision": float(means[0]), "recall": float(means[1]), "ndcg": float(means[2]),
            "n_users": int(len(ranked))}


def ranking_metrics(score_rows: Callable[[np.ndarray], np.ndarray], seen: sp.csr_matrix,
                    relevant: sp.csr_matrix, k: int = 10, batch_size: int = 256,
                    n_jobs: int = 1) -> dict:
    """Mean precision, recall and nDCG at ``k`` over the rows with at least one relevant item,
    ranking by ``score_rows`` (see :func:`top_k_lists`); items in ``seen`` (what the model was
    shown) are never candidates."""
    relevant = sp.csr_matrix(relevant)
    rows = evaluated_rows(relevant)
    ranked = top_k_lists(score_rows, seen, rows, k, batch_size, n_jobs)
    return list_metrics(ranked, relevant[rows], k, batch_size)


def coverage(ranked: np.ndarray, n_movies: int) -> float:
    """Share of the ``n_movies`` movies that appear in at least one list."""
    shown = np.unique(ranked[ranked != NO_ITEM])
    return len(shown) / n_movies if n_movies else float("nan")


def popularity_percentiles(train: sp.csr_matrix) -> np.ndarray:
    """Each movie's percentile of its number of training ratings among all movies: the share
    (in %) of the movies rated at most as often, so the most rated movie is at 100."""
    counts = np.diff(sp.csc_matrix(train).indptr)
    return 100.0 * np.searchsorted(np.sort(counts), counts, side="right") / max(len(counts), 1)


def mean_popularity_percentile(ranked: np.ndarray, percentiles: np.ndarray) -> float:
    """Mean popularity percentile (:func:`popularity_percentiles`) of every recommended movie,
    over all the lists' ranks (a movie counts as often as it is recommended)."""
    shown = ranked[ranked != NO_ITEM]
    return float(percentiles[shown].mean()) if len(shown) else float("nan")
