"""Accuracy metrics: rating error (RMSE, MAE) and top-N quality on held-out favourites.

Top-N follows the usual offline protocol: a user's relevant items are their held-out ratings of
at least 4 (a favourite, seed 001); the candidates are every movie the user has not already rated
in what the model was shown; the model ranks candidates by predicted score. Users without a
held-out favourite say nothing about ranking and are skipped.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

FAVOURITE_RATING = 4.0


def rmse(truth, predicted) -> float:
    """Root mean squared error."""
    diff = np.asarray(truth, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    return float(np.sqrt(np.mean(diff ** 2)))


def mae(truth, predicted) -> float:
    """Mean absolute error."""
    diff = np.asarray(truth, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    return float(np.mean(np.abs(diff)))


def relevant_items(users, items, ratings, shape, threshold: float = FAVOURITE_RATING) -> sp.csr_matrix:
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
    """(rows x k) booleans "the item at this rank is relevant", and each row's relevant count."""
    if sp.issparse(relevant):
        relevant = relevant.toarray()
    relevant = np.asarray(relevant, dtype=bool)
    hits = np.take_along_axis(relevant, ranked[:, :k], axis=1)
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


def ranking_metrics(score_rows: Callable[[np.ndarray], np.ndarray], seen: sp.csr_matrix,
                    relevant: sp.csr_matrix, k: int = 10, batch_size: int = 256) -> dict:
    """Mean precision, recall and nDCG at ``k`` over the rows with at least one relevant item.

    ``score_rows(rows)`` returns the model's scores of every movie for those rows; they are asked
    for ``batch_size`` rows at a time so memory stays at ``batch_size x n_movies``. Items in
    ``seen`` (what the model was shown) are never candidates.
    """
    relevant = sp.csr_matrix(relevant)
    rows = np.flatnonzero(np.diff(relevant.indptr))
    totals = np.zeros(3)
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        scores = np.array(score_rows(batch), dtype=np.float64)
        ranked = top_k_items(scores, k, exclude=seen[batch])
        rel = relevant[batch].toarray()
        totals += [precision_at_k(ranked, rel, k).sum(), recall_at_k(ranked, rel, k).sum(),
                   ndcg_at_k(ranked, rel, k).sum()]
    means = totals / len(rows) if len(rows) else np.full(3, np.nan)
    return {"precision": float(means[0]), "recall": float(means[1]), "ndcg": float(means[2]),
            "n_users": int(len(rows))}
