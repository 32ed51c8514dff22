"""The training sample of the benchmarks that run on more ratings than a model can be fitted on
in their time (bench/cluster.py, ``python -m bench.live --train-sample``): what serving and
ingest cost depends on the store, which holds every rating, not on the training set."""
from __future__ import annotations

import pandas as pd


def user_sample(ratings: pd.DataFrame, size: int, random_state: int = 5) -> pd.DataFrame:
    """The ratings of users drawn at random until about ``size`` ratings: every user, in a
    shuffled order (``random_state``), while the running total of their ratings stays at or
    under ``size``; each drawn user with all their ratings. ``ratings`` itself (columns
    user_id, ...) when it holds no more than ``size``."""
    if len(ratings) <= size:
        return ratings
    users = ratings["user_id"].drop_duplicates().sample(frac=1.0, random_state=random_state)
    per_user = ratings["user_id"].value_counts()[users.to_numpy()].cumsum()
    return ratings[ratings["user_id"].isin(per_user[per_user <= size].index)]
