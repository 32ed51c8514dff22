"""The ``implicit`` library's ALS as a reference ranking model for bench/topn.py: wrapped in our
estimator contract (fit on explicit ratings, ``score_users``, ``predict_unseen``) so that the
harness ranks and scores its lists exactly as it does ours, and its grid is chosen by
``shared.recsys.models.tuning.tune`` on the same validation split as our estimators'."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from shared.recsys.evaluation.accuracy import evaluated_rows, relevant_items, top_k_lists
from shared.recsys.models.topn import confidence
from shared.recsys.models.tuning import tune

# How explicit ratings become implicit's user_items: ours (shared.recsys.models.topn.confidence)
# and BM25 weighting of the binary matrix, as implicit's own examples prepare their data.
CONFIDENCES = ("binary", "rating", "signed", "bm25")
# Two stages, as Rendle et al. 2021 advise for iALS: the parameters that interact (penalty,
# weight of the rated pairs, confidence) jointly, then dimension and epochs at their winners.
STAGES = (
    {"factors": [64], "iterations": [15],
     "regularization": [0.01, 0.1, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0],
     "alpha": [1.0, 2.0, 5.0, 10.0, 40.0], "confidence": list(CONFIDENCES)},
    {"factors": [64, 128, 256], "iterations": [15, 30, 50]},
)
QUICK_POINT = {"factors": 64, "regularization": 0.01, "alpha": 10.0, "iterations": 15,
               "confidence": "binary"}


def user_items(X, scheme: str) -> sp.csr_matrix:
    """The float32 users x movies matrix implicit is fitted on."""
    if scheme == "bm25":
        from implicit.nearest_neighbours import bm25_weight

        binary = confidence(X, "binary")
        return sp.csr_matrix(bm25_weight(binary.T.tocsr(), K1=100, B=0.8).T, dtype=np.float32)
    return sp.csr_matrix(confidence(X, scheme), dtype=np.float32)


class ImplicitALSReference(BaseEstimator):
    """``implicit.cpu.als.AlternatingLeastSquares`` (conjugate gradient, float32, its defaults
    otherwise) fitted on ``user_items(X, confidence)``. Scores are the dot products of its
    user and item factors; a new user's factors come from its ``recalculate_user``."""

    predicts_ratings = False

    def __init__(self, factors: int = 100, regularization: float = 0.01, alpha: float = 1.0,
                 iterations: int = 15, confidence: str = "binary", num_threads: int = 1,
                 random_state: int = 0):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.confidence = confidence
        self.num_threads = num_threads
        self.random_state = random_state

    def fit(self, X, y=None):
        from implicit.cpu.als import AlternatingLeastSquares

        self.model_ = AlternatingLeastSquares(
            factors=self.factors, regularization=self.regularization, alpha=self.alpha,
            iterations=self.iterations, num_threads=self.num_threads,
            random_state=self.random_state)
        self.model_.fit(user_items(X, self.confidence), show_progress=False)
        return self

    def score_users(self, users) -> np.ndarray:
        return self.model_.user_factors[np.atleast_1d(users)] @ self.model_.item_factors.T

    def predict_unseen(self, X_new) -> np.ndarray:
        C = user_items(X_new, self.confidence)
        factors = self.model_.recalculate_user(np.arange(C.shape[0]), C)
        return np.atleast_2d(factors) @ self.model_.item_factors.T


def choose(X, threads: int, log) -> tuple[dict, list[list[dict]]]:
    """The parameters with the best validation nDCG@10 (20 % of ``X`` held out, seed 0) after
    the :data:`STAGES`, each stage's grid around the winners so far; and each stage's points."""
    chosen, stages = {}, []
    for grid in STAGES:
        grid = {**{name: [value] for name, value in chosen.items()}, **grid}
        log(f"implicit ALS: stage {len(stages) + 1}, {np.prod([len(v) for v in grid.values()])} "
            "points on validation")
        best, rows = tune(ImplicitALSReference(num_threads=threads), grid, X)
        chosen.update(best)
        stages.append(rows)
        log(f"  best {best}: validation nDCG@10 {max(r['ndcg'] for r in rows):.4f}")
    return chosen, stages


def recommend_agreement(reference: ImplicitALSReference, fold) -> float:
    """Share of the evaluated users whose top 10 from implicit's own
    ``recommend(userid, user_items, N=10, filter_already_liked_items=True)`` is the list our
    harness ranks from the same factors."""
    relevant = relevant_items(fold.test_users, fold.test_items, fold.test_ratings,
                              fold.train.shape)
    rows = evaluated_rows(relevant)
    ours = top_k_lists(reference.score_users, fold.train, rows, k=10)
    liked = user_items(fold.train, reference.confidence)
    theirs, _ = reference.model_.recommend(rows, liked[rows], N=10,
                                           filter_already_liked_items=True)
    return float(np.mean([set(a) == set(b) for a, b in zip(ours, theirs)]))
