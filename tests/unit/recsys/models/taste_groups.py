"""A small MovieLens-shaped data set with known taste groups, split 80/20, for the top-N tests."""
from __future__ import annotations

from shared.data.movielens import load
from shared.data.synthetic import generate
from shared.recsys.evaluation.accuracy import ranking_metrics, relevant_items
from shared.recsys.evaluation.split import Fold, RandomSplit


def taste_group_fold(out_dir) -> Fold:
    """An 80/20 random split of 400 users in 4 taste groups rating 600 movies."""
    generate(out_dir, n_users=400, n_movies=600, n_ratings=30_000, seed=11, n_groups=4)
    return next(RandomSplit(0.8, 0).folds(load(out_dir)))


def ndcg_on_test_part(model, fold: Fold) -> float:
    """nDCG@10 on the fold's test part (relevant: ratings >= 4; training items excluded)."""
    relevant = relevant_items(fold.test_users, fold.test_items, fold.test_ratings,
                              fold.train.shape)
    return ranking_metrics(model.score_users, fold.train, relevant)["ndcg"]
