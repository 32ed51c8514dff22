"""What fits a retrain: this process, or Apache Spark (:mod:`trainer.spark`). An engine takes
the snapshot, holds out the ratings that measure the version, fits the pipeline and measures
it; :func:`trainer.retrain.retrain` runs the same stages, gate and publication on either."""
from __future__ import annotations

from contextlib import AbstractContextManager

import pandas as pd

from shared.config import Settings
from shared.recsys.evaluation.holdout import holdout_metrics, split_snapshot
from shared.recsys.persist import ModelBundle
from shared.recsys.served import LiveModel
from shared.store.stores import Stores
from trainer.pipeline import TrainerBundleConfig, fit_pipeline

ENGINES = ("local", "spark")


class LocalEngine(AbstractContextManager):
    """The snapshot as a pandas frame in this process, fitted by
    :func:`trainer.pipeline.fit_pipeline`."""

    name = "local"

    def __exit__(self, *exc) -> None:
        return None

    def snapshot(self, stores: Stores, given: pd.DataFrame | None = None) -> pd.DataFrame:
        return stores.ratings.snapshot() if given is None else given

    def n_rated(self, data: pd.DataFrame) -> int:
        return int((data["rating"] > 0).sum()) if len(data) else 0

    def split(self, data: pd.DataFrame, fraction: float, split: str):
        return split_snapshot(data, fraction, split)

    def fit(self, data: pd.DataFrame, movies: pd.DataFrame, config: TrainerBundleConfig,
            progress: bool) -> ModelBundle:
        return fit_pipeline(data, movies, config, progress=progress)

    def measure(self, bundle: ModelBundle, train: pd.DataFrame, held_out: pd.DataFrame) -> dict:
        return holdout_metrics(LiveModel(bundle), train, held_out)


def engine_for(settings: Settings, name: str | None = None):
    """The engine ``name`` (None: ``settings.train_engine``), to use as a context manager."""
    name = name or settings.train_engine
    if name == "local":
        return LocalEngine()
    if name == "spark":
        from trainer.spark.engine import SparkEngine

        return SparkEngine(settings)
    raise ValueError(f"unknown training engine {name!r}: one of {', '.join(ENGINES)}")
