"""The ratings as Spark holds them, and passes over them that send back only what is small.

Each partition of the snapshot's DataFrame holds whole users (the store keeps each user in one
partition, and a Spark task reads one). A pass turns a partition into a :class:`Block` (its
users' rows of the users x movies matrices, built by the same functions a local retrain
uses), runs a function of the block, and returns its arrays to the driver as ``.npz`` bytes,
where they are summed or put in their users' places.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shared.recsys import persist
from shared.recsys.ratings import rating_matrix, time_matrix
from shared.recsys.vocabulary import Vocabulary
from shared.store.stores import Stores

SNAPSHOT_SCHEMA = "user_id long, movie_id long, rating double, favourite boolean, ts long"
ARRAYS_SCHEMA = "npz binary"


@dataclass(frozen=True)
class Block:
    """One partition's users: ``users`` their indices in the whole vocabulary (increasing),
    ``X`` their ratings, ``F`` their favourites (0/1), ``T`` the time of each rating of
    ``X`` (seconds, plus one: :func:`time_matrix`), all users x every movie."""

    users: np.ndarray
    X: sp.csr_matrix
    F: sp.csr_matrix
    T: sp.csr_matrix


def block_of(rows: pd.DataFrame, user_ids: np.ndarray, movies: Vocabulary) -> Block:
    """The block of snapshot ``rows`` (whole users), ``user_ids`` every user's id, sorted."""
    own = Vocabulary(rows["user_id"].to_numpy())
    rated = rows[rows["rating"] > 0]
    X, _, _ = rating_matrix(rated, own, movies)
    favourites = rows[rows["favourite"]]
    F = sp.csr_matrix((np.ones(len(favourites)),
                       (own.index(favourites["user_id"].to_numpy()),
                        movies.index(favourites["movie_id"].to_numpy()))),
                      shape=(len(own), len(movies)))
    return Block(users=np.searchsorted(user_ids, own.ids), X=X, F=F,
                 T=time_matrix(rated, own, movies))


def read_snapshot(spark, stores: Stores):
    """Every live entry of the ratings store as a DataFrame (``SNAPSHOT_SCHEMA``), read by one
    task per store partition and cached: the driver never holds it."""
    settings, partitions = stores.settings, stores.keys.partitions

    def read(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        ratings = Stores.connect(settings).ratings
        for batch in batches:
            for partition in batch["id"].tolist():
                yield ratings.snapshot(partitions=[int(partition)])

    snapshot = spark.range(0, partitions, 1, numPartitions=partitions).mapInPandas(
        read, SNAPSHOT_SCHEMA).coalesce(fit_partitions(spark, partitions)).cache()
    snapshot.count()  # read now, once
    return snapshot


def snapshot_frame(spark, frame: pd.DataFrame, partitions: int):
    """A snapshot given as a pandas frame (``SNAPSHOT_SCHEMA``'s columns), spread by user as
    the store's partitions are (:func:`fit_partitions`), and cached."""
    frame = frame.assign(favourite=frame["favourite"] if "favourite" in frame else False)
    columns = [column.split()[0] for column in SNAPSHOT_SCHEMA.split(", ")]
    df = spark.createDataFrame(frame[columns].astype({"ts": "int64"}), SNAPSHOT_SCHEMA)
    return df.repartition(fit_partitions(spark, partitions), "user_id").cache()


def fit_partitions(spark, partitions: int) -> int:
    """The partitions the fit's stages run over: the store's, merged down to the cores Spark
    has (each partition is a task of every one of the fit's many jobs, and a task costs tens
    of milliseconds however small: on two cores, 16 partitions made a fit of 6,000 ratings
    take 3.3 times as long as 2 did). A partition keeps its users whole."""
    return max(1, min(partitions, spark.sparkContext.defaultParallelism))


def partition_block(batches: Iterator[pd.DataFrame], user_ids: np.ndarray,
                    movie_ids: np.ndarray) -> Block | None:
    """The block of one partition's rows (a ``mapInPandas`` task's batches), None when it has
    none."""
    rows = [batch for batch in batches if len(batch)]
    if not rows:
        return None
    return block_of(pd.concat(rows, ignore_index=True), user_ids, Vocabulary(movie_ids))


def over_blocks(df, fn: Callable[[Block], dict], user_ids: np.ndarray, movies: Vocabulary
                ) -> list[dict]:
    """``fn`` of each partition's block: a dict of arrays per partition, on the driver, with
    the block's ``users`` added."""
    ids = movies.ids

    def task(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        block = partition_block(batches, user_ids, ids)
        if block is None:
            return
        yield pd.DataFrame({"npz": [persist.to_npz_bytes({"users": block.users, **fn(block)})]})

    return [persist.from_npz_bytes(row["npz"])
            for row in df.mapInPandas(task, ARRAYS_SCHEMA).collect()]


def shipped(estimator) -> Callable[[], Any]:
    """A fitted estimator as tasks receive it: its ``.npz`` arrays and JSON spec
    (:mod:`shared.recsys.persist`, as a stored version), rebuilt by calling the result where
    it runs; no pickled estimator crosses to the executors."""
    spec, arrays = persist.encode(estimator)
    blob, text = persist.to_npz_bytes(arrays), json.dumps(spec)

    def load():
        return persist.decode(json.loads(text), persist.from_npz_bytes(blob))

    return load


def summed(parts: list[dict], name: str):
    """The sum of every partition's array ``name``."""
    return sum(part[name] for part in parts)


def per_user(parts: list[dict], name: str, n_users: int, fill=0.0) -> np.ndarray:
    """Every partition's array ``name`` (one row per user of its block, as ``users``) put in
    its users' places of an array over all ``n_users`` (``fill`` where no block has one)."""
    first = parts[0][name] if parts else np.zeros(0)
    out = np.full((n_users, *first.shape[1:]), fill, dtype=first.dtype if parts else float)
    for part in parts:
        out[part["users"]] = part[name]
    return out


def nth_smallest(frame, column: str, k: int, relative_error: float = 1e-4) -> float:
    """The ``k``-th smallest value (from 0) of ``column`` of the DataFrame ``frame``, as
    ``np.sort(values)[k]`` gives it, without bringing the column to the driver (a sort and
    an offset did, and ran the driver out of memory at 25 M ratings): Spark's approximate
    quantiles bracket it, a count places the bracket, and only the values inside it come
    back. A bracket that misses (on few rows) is widened until it holds every value."""
    from pyspark.sql import functions as F

    n = frame.count()
    if not 0 <= k < n:
        raise ValueError(f"k must be in 0..{n - 1}, got {k}")
    q, value = (k + 0.5) / n, F.col(column)
    while True:
        margin = 3 * relative_error
        lo, hi = frame.approxQuantile(column, [max(q - margin, 0.0), min(q + margin, 1.0)],
                                      relative_error)
        if q - margin <= 0:
            lo = frame.agg(F.min(column)).first()[0]
        if q + margin >= 1:
            hi = frame.agg(F.max(column)).first()[0]
        below = frame.filter(value < lo).count()
        inside = np.sort([row[0] for row in
                          frame.filter((value >= lo) & (value <= hi)).select(column).collect()])
        if below <= k < below + len(inside):
            return inside[k - below].item()
        relative_error *= 10
