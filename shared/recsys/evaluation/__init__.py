"""Offline evaluation: splits of the ratings, accuracy metrics, and the harness that fits and
scores models."""
from shared.recsys.evaluation.accuracy import mae, ndcg_at_k, precision_at_k, recall_at_k, rmse
from shared.recsys.evaluation.harness import RESULT_KEYS, evaluate
from shared.recsys.evaluation.served import ServedSetup
from shared.recsys.evaluation.split import Fold, parse_split

__all__ = ["Fold", "RESULT_KEYS", "ServedSetup", "evaluate", "mae", "ndcg_at_k", "parse_split",
           "precision_at_k", "recall_at_k", "rmse"]
