"""The retrain's stages on Spark (:class:`trainer.engines.LocalEngine`'s, with DataFrames):
the snapshot read by the executors, the held-out ratings chosen as a local retrain chooses
them, and the measure of the version brought to the driver only as far as it needs (the
held-out ratings, the listed users' training ratings, every movie's count; the rating
model's predictions made on the executors)."""
from __future__ import annotations

from contextlib import AbstractContextManager

import numpy as np
import pandas as pd

from shared.config import Settings
from shared.recsys.evaluation.holdout import (
    HOLDOUT_SPLITS,
    hashed_pairs,
    holdout_metrics,
    listed_users,
    predicted_from,
)
from shared.recsys.persist import ModelBundle
from shared.recsys.served import LiveModel
from shared.store.stores import Stores
from trainer.pipeline import TrainerBundleConfig
from trainer.spark.blocks import (
    SNAPSHOT_SCHEMA,
    fit_partitions,
    nth_smallest,
    read_snapshot,
    shipped,
    snapshot_frame,
)
from trainer.spark.fit import fit_bundle_on_spark
from trainer.spark.session import spark_session


class SparkEngine(AbstractContextManager):
    name = "spark"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._session = spark_session(settings)
        self.spark = None
        self._partitions = 1

    def __enter__(self) -> SparkEngine:
        self.spark = self._session.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._session.__exit__(*exc)

    def snapshot(self, stores: Stores, given: pd.DataFrame | None = None):
        self._partitions = fit_partitions(self.spark, stores.keys.partitions)
        if given is not None:
            return snapshot_frame(self.spark, given, self._partitions)
        return read_snapshot(self.spark, stores)

    def n_rated(self, data) -> int:
        return data.filter("rating > 0").count()

    def split(self, data, fraction: float, split: str):
        """:func:`shared.recsys.evaluation.holdout.split_snapshot` on the DataFrame: the same
        ratings are held out."""
        from pyspark.sql import functions as F

        if not 0 < fraction < 1:
            raise ValueError(f"the held-out share must be between 0 and 1, got {fraction}")
        if split not in HOLDOUT_SPLITS:
            raise ValueError(f"the held-out split must be one of {', '.join(HOLDOUT_SPLITS)}")
        rated = F.col("rating") > 0
        if split == "temporal":
            times = data.filter(rated).select("ts")
            n = times.count()
            if n == 0:
                return data, data.limit(0)
            cut = nth_smallest(times, "ts", min(int(round((1 - fraction) * n)), n - 1))
            first = times.agg(F.min("ts")).first()[0]
            held = rated & ((F.col("ts") > cut) if cut == first else (F.col("ts") >= cut))
            marked = data.withColumn("held", held)
        else:
            def mark(batches):
                for batch in batches:
                    yield batch.assign(held=hashed_pairs(batch, fraction)
                                       & (batch["rating"].to_numpy() > 0))
            marked = data.mapInPandas(mark, f"{SNAPSHOT_SCHEMA}, held boolean")
        marked = marked.cache()
        train = marked.filter(~F.col("held")).drop("held").cache()
        held_out = marked.filter(F.col("held")).drop("held").cache()
        return train, held_out

    def fit(self, data, movies: pd.DataFrame, config: TrainerBundleConfig,
            progress: bool) -> ModelBundle:
        return fit_bundle_on_spark(self.spark, data, movies, config, self.settings.spark_master,
                                   progress=progress)

    def measure(self, bundle: ModelBundle, train, held_out) -> dict:
        from pyspark.sql import functions as F

        live = LiveModel(bundle)
        held = held_out.toPandas()
        listed = listed_users(live, held)
        mine = train.filter(F.col("user_id").isin([int(u) for u in listed])).toPandas()
        counts = train.filter("rating > 0").groupBy("movie_id").count().toPandas()
        popularity = np.zeros(len(live.movies), dtype=np.int64)
        index = live.movies.index(counts["movie_id"].to_numpy(), missing="negative")
        popularity[index[index >= 0]] = counts["count"].to_numpy()[index >= 0]
        return holdout_metrics(live, mine, held, popularity=popularity,
                               predict=lambda known: self._predicted(live, train, known))

    def _predicted(self, live: LiveModel, train, known: pd.DataFrame) -> np.ndarray:
        """The rating model's predictions of the ``known`` held-out rows, made on the
        executors from each user's training ratings (as :meth:`LiveModel.predict` makes them
        from the live ones)."""
        from pyspark.sql import functions as F

        load = shipped(live.recommender)
        movies = live.movies
        asked = self.spark.createDataFrame(pd.DataFrame({
            "user_id": known["user_id"].to_numpy().astype(np.int64),
            "movie_id": known["movie_id"].to_numpy().astype(np.int64),
            "rating": 0.0, "ts": 0, "order": np.arange(len(known), dtype=np.int64)}))
        theirs = (train.filter("rating > 0")
                  .join(F.broadcast(asked.select("user_id").distinct()), "user_id", "left_semi")
                  .select("user_id", "movie_id", "rating", "ts", F.lit(-1).cast("long")
                          .alias("order")))
        together = theirs.unionByName(asked).repartition(self._partitions, "user_id")

        def task(batches):
            rows = [batch for batch in batches if len(batch)]
            frame = pd.concat(rows, ignore_index=True) if rows else None
            wanted = frame[frame["order"] >= 0] if frame is not None else ()
            if not len(wanted):
                return
            predicted = predicted_from(load(), frame[frame["order"] < 0], wanted, movies)
            yield pd.DataFrame({"order": wanted["order"].to_numpy(), "predicted": predicted})

        rows = together.mapInPandas(task, "order long, predicted double").toPandas()
        out = np.full(len(known), np.nan)
        out[rows["order"].to_numpy()] = rows["predicted"].to_numpy()
        return out
