"""One retrain, however it was started (``movierec train``, the scheduler's job, ``movierec up``):
under the trainer lock, sweep what dead runs left, snapshot the ratings store, hold out a share
of its ratings (the latest, by default), fit the pipeline on the rest, measure the version on
the held-out ratings, let the gate compare it with the active version, then publish it (fitted
again on the whole snapshot, with the k and the ranker's hyper-parameters it chose, when the
latest ratings were held out) or store it as rejected, and remember how many events the
snapshot had seen. Each stage's duration goes into the manifest."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager

from shared.config import Settings
from shared.recsys.evaluation.holdout import gate
from shared.recsys.models import registry
from shared.recsys.persist import ModelBundle
from shared.recsys.pipeline import refit_config
from shared.store.stores import Stores
from trainer.engines import engine_for
from trainer.pipeline import TrainerBundleConfig
from trainer.publish import publish

log = logging.getLogger(__name__)

# What a version refitted on the whole snapshot keeps of the fit that was measured: its
# measures, its gate, how its k and its ranker's hyper-parameters were chosen, and its
# blend's weights with the held-out errors they were learned from.
KEPT_FROM_MEASURED = ("holdout", "gate", "k", "ranker_tuning", "rating_model")


class NothingToTrainOn(Exception):
    """The ratings store holds no rating."""


class Rejected(Exception):
    """The gate refused the new version: it is stored as rejected, the active one serves on."""

    def __init__(self, version: str, reasons: list[str]):
        self.version, self.reasons = version, reasons
        super().__init__(f"version {version} was rejected by the gate: {'; '.join(reasons)}")


def retrain(stores: Stores, what: str = "retrain",
            snapshot=None, k_rule: str = "silhouette", model: str | None = None,
            ranker: str | None = None, force: bool = False,
            report: Callable[[str], None] = lambda stage: None,
            progress: bool = True, engine: str | None = None) -> tuple[ModelBundle, list[str]]:
    """The new active version, and the versions of dead runs discarded on the way. ``report``
    hears each stage as it starts; ``force`` publishes a version the gate refuses; ``engine``
    fits it (:mod:`trainer.engines`; None: the configured one). Raises LockHeld when another
    trainer runs, LockLost when this one lost its lock (nothing activated),
    NothingToTrainOn, Rejected; a failure of the engine activates nothing either."""
    settings, store, models = stores.settings, stores.ratings, stores.models
    pipeline_config = _pipeline_config(settings, k_rule, model, ranker)
    lock = stores.trainer_lock()
    seconds: dict[str, float] = {}

    @contextmanager
    def stage(name: str):
        report(name)
        started = time.perf_counter()
        yield
        seconds[name] = round(time.perf_counter() - started, 3)
        log.info("%s: %s took %.1f s", what, name, seconds[name])

    report("waiting for the trainer lock")
    with lock.held(what), engine_for(settings, engine) as fitter:
        with stage("sweeping dead runs"):
            discarded = models.discard_abandoned()
        with stage("snapshot"):
            events = store.events_applied()
            snapshot = fitter.snapshot(stores, snapshot)
            if fitter.n_rated(snapshot) == 0:
                raise NothingToTrainOn("no ratings in Redis to train on: run `movierec import "
                                       "DIR` first")
            train, held_out = fitter.split(snapshot, settings.holdout_fraction,
                                           settings.holdout_split)
        movies = stores.catalogue.movies_frame()
        with stage("fitting"):
            bundle = fitter.fit(train, movies, pipeline_config, progress)
        with stage("evaluating on the held-out ratings"):
            metrics = {"split": settings.holdout_split,
                       **fitter.measure(bundle, train, held_out)}
            active = models.active_version()
            reasons = gate(metrics,
                           (models.manifest(active) or {}).get("holdout") if active else None,
                           settings.gate_tolerance)
        bundle.manifest.update(holdout=metrics, stage_seconds=seconds, gate={
            "against": active, "tolerance": settings.gate_tolerance, "passed": not reasons,
            "reasons": reasons, "forced": bool(reasons) and force})
        if reasons and not force:
            models.save(bundle)
            models.mark_rejected(bundle.version)
            models.prune(settings.keep_versions)
            log.warning("%s: %s rejected: %s", what, bundle.version, "; ".join(reasons))
            raise Rejected(bundle.version, reasons)
        if settings.holdout_split == "temporal":  # serve what knows the latest ratings too
            measured = bundle.manifest
            del bundle  # only its manifest is kept: its arrays need not outlive the refit
            with stage("fitting on the whole snapshot"):
                bundle = fitter.fit(snapshot, movies, refit_config(pipeline_config, measured),
                                    progress)
            bundle.manifest.update({name: measured[name] for name in KEPT_FROM_MEASURED},
                                   stage_seconds=seconds)
        with stage("publishing"):
            publish(bundle, stores, shrink=pipeline_config.shrink, lock=lock, progress=progress)
            models.record_snapshot_events(events)
        models.annotate(bundle.version, stage_seconds=seconds)
    report("done")
    return bundle, discarded


def _pipeline_config(settings: Settings, k_rule: str, model: str | None,
                     ranker: str | None) -> TrainerBundleConfig:
    extra = {}
    if model:
        extra["model"] = model
    if ranker:
        extra["ranker"] = ranker
        if ranker != registry.DEFAULT_RANKER:  # the penalty grid is the default ranker's
            extra["ranker_grid"] = None
    return TrainerBundleConfig(k_range=settings.k_range, k_rule=k_rule,
                               min_cluster_size=settings.min_cluster_size,
                               exploration_coverage=settings.exploration_coverage, **extra)


def sweep_dead_runs(stores: Stores) -> list[str]:
    """Discard what trainers that died left, unless a trainer runs now (it sweeps itself)."""
    lock = stores.trainer_lock()
    if not lock.acquire("sweeping dead runs"):
        return []
    try:
        return stores.models.discard_abandoned()
    finally:
        lock.release()
