"""The retrain pipeline on a snapshot of the ratings store: the snapshot and the catalogue as
matrices and text, fitted by :func:`shared.recsys.pipeline.fit_bundle` into a model bundle."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shared.config import Settings
from shared.recsys import pipeline
from shared.recsys.persist import ModelBundle
from shared.recsys.ratings import FAVOURITE_RATING, rating_matrix, time_matrix
from shared.recsys.vocabulary import Vocabulary


@dataclass(frozen=True, kw_only=True)
class TrainerBundleConfig(pipeline.BundleConfig):
    """A bundle's configuration whose k range and minimum cluster size default to the
    service's (:class:`Settings`)."""

    k_range: tuple[int, int] = Settings.k_range
    min_cluster_size: int = Settings.min_cluster_size
    exploration_coverage: float = Settings.exploration_coverage


def _favourites(snapshot: pd.DataFrame, users: Vocabulary, movies: Vocabulary) -> sp.csr_matrix:
    if "favourite" in snapshot:
        fav = snapshot[snapshot["favourite"]]
    else:
        fav = snapshot[snapshot["rating"] >= FAVOURITE_RATING]
    rows = users.index(fav["user_id"].to_numpy())
    cols = movies.index(fav["movie_id"].to_numpy())
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), len(movies)))


def item_text(movies: pd.DataFrame, vocab: Vocabulary) -> list[str]:
    """Each movie's genres and tags, for the content side of the similar movies."""
    by_id = movies.set_index("movie_id")
    text = (by_id["genres"].fillna("") + "|" + by_id["tags"].fillna("")).to_dict()
    return [text.get(int(m), "") for m in vocab.ids]


def fit_pipeline(snapshot: pd.DataFrame, movies: pd.DataFrame,
                 config: TrainerBundleConfig = TrainerBundleConfig(),
                 progress: bool = True) -> ModelBundle:
    """Fit every model the service needs on ``snapshot`` (user_id, movie_id, rating,
    favourite?, ts) and the catalogue ``movies``."""
    users = Vocabulary(snapshot["user_id"].to_numpy())
    movie_vocab = Vocabulary(np.concatenate([movies["movie_id"].to_numpy(),
                                             snapshot["movie_id"].to_numpy()]))
    rated = snapshot[snapshot["rating"] > 0]
    X, _, _ = rating_matrix(rated, users, movie_vocab)
    return pipeline.fit_bundle(
        X, _favourites(snapshot, users, movie_vocab), users, movie_vocab, config,
        item_text=item_text(movies, movie_vocab),
        latest_ts=int(snapshot["ts"].max()) if len(snapshot) else 0, progress=progress,
        times=time_matrix(rated, users, movie_vocab))
