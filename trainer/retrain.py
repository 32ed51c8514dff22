"""One retrain, however it was started (``movierec train``, the scheduler's job, ``movierec up``):
under the trainer lock, sweep what dead runs left, snapshot the ratings store, fit the pipeline,
publish the version and remember how many events the snapshot had seen."""
from __future__ import annotations

from typing import Callable

from shared.config import Settings
from shared.recsys.persist import ModelBundle
from shared.store.models import ModelStore
from shared.store.ratings import RatingStore
from shared.store.trainer_lock import TrainerLock
from trainer.pipeline import PipelineConfig, fit_pipeline
from trainer.publish import publish


class NothingToTrainOn(Exception):
    """The ratings store holds no rating."""


def retrain(store: RatingStore, models: ModelStore, settings: Settings, what: str = "retrain",
            snapshot=None, k_rule: str = "silhouette", model: str | None = None,
            report: Callable[[str], None] = lambda stage: None,
            progress: bool = True) -> tuple[ModelBundle, list[str]]:
    """The new active version, and the versions of dead runs discarded on the way. ``report``
    hears each stage as it starts. Raises LockHeld when another trainer runs, LockLost when
    this one lost its lock (nothing activated), NothingToTrainOn."""
    pipeline_config = PipelineConfig(k_range=settings.k_range, k_rule=k_rule,
                                     min_cluster_size=settings.min_cluster_size,
                                     **({"model": model} if model else {}))
    lock = TrainerLock(store.redis, store.keys, settings.trainer_lock_seconds)
    report("waiting for the trainer lock")
    with lock.held(what):
        report("sweeping dead runs")
        discarded = models.discard_abandoned()
        report("snapshot")
        events = store.events_applied()
        snapshot = store.snapshot() if snapshot is None else snapshot
        if snapshot.empty or (snapshot["rating"] > 0).sum() == 0:
            raise NothingToTrainOn("no ratings in Redis to train on: run `movierec import DIR` first")
        report("fitting")
        bundle = fit_pipeline(snapshot, store.movies_frame(), pipeline_config, progress=progress)
        report("publishing")
        publish(bundle, store, models, shrink=pipeline_config.shrink, lock=lock,
                keep=settings.keep_versions, progress=progress)
        models.record_snapshot_events(events)
    report("done")
    return bundle, discarded


def sweep_dead_runs(store: RatingStore, models: ModelStore, settings: Settings) -> list[str]:
    """Discard what trainers that died left, unless a trainer runs now (it sweeps itself)."""
    lock = TrainerLock(store.redis, store.keys, settings.trainer_lock_seconds)
    if not lock.acquire("sweeping dead runs"):
        return []
    try:
        return models.discard_abandoned()
    finally:
        lock.release()
