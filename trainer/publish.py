"""Publish a trained version and swap it in while serving goes on; roll back to a kept one.

Under the trainer lock, the version's counters are built beside the active one (the Lua script
keeps both current while the trainer places users and seeds the counters with their ratings,
:mod:`shared.store.seeding`), then the active pointer flips in one command, and versions
beyond the newest ``keep`` are deleted. A rollback flips first and rebuilds the kept version's
counters behind it: the default list reads no counters, so the version serves at once,
however many users there are to place again (counters of inactive versions are not kept
current, so old ones would be stale); it reads only the version's manifest before the flip.
Until the rebuild ends, a user it has not reached yet has no cluster under the version, and
the lists that read the clusters fall back to the popular list for them; the counters of the
users it placed fill in as the seeding folds its totals, at its end.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext

from tqdm import tqdm

from shared.recsys.persist import ModelBundle
from shared.recsys.pipeline import BundleConfig
from shared.recsys.served import LiveModel
from shared.store.seeding import Seeding
from shared.store.stores import Stores
from shared.store.trainer_lock import LockLost, TrainerLock

log = logging.getLogger(__name__)
ASSIGN_BATCH = 500  # users a seed call places: some 77,000 entries at 25 M ratings
# What a rollback loads: the baseline gives the counters' priors; the labels and the
# classifier place every user.
COUNTER_COMPONENTS = ("baseline", "softmax")


def publish(bundle: ModelBundle, stores: Stores, shrink: float, progress: bool = True,
            lock: TrainerLock | None = None) -> str:
    """Store ``bundle``, build its counters, activate it and prune old versions, holding
    ``lock`` (or taking the trainer lock for the call)."""
    models = stores.models
    with _holding(lock, stores, "publish") as held:
        models.save(bundle)
        live = LiveModel(bundle)
        prepare_counters(live, stores, shrink)
        held.build(bundle.version)
        assign_users(live, stores, progress)
        held.flip(bundle.version)
        models.prune(stores.settings.keep_versions)
    return bundle.version


def activate_version(version: str, stores: Stores, progress: bool = True,
                     lock: TrainerLock | None = None,
                     report: Callable[[str], None] = lambda stage: None) -> None:
    """Make a kept version active again at once, then rebuild its counters from the ratings
    store (with the shrinkage it was trained with); ``report`` hears each stage. Activating
    the active version finishes a rebuild a dead rollback left half-way, else does nothing.

    Before the flip only what an earlier life of the version left is dropped, by name: no
    user is placed in a cluster of the version then, so merge.lua counts nothing for it and
    needs no priors until :func:`assign_users`, which comes after they are written. Finishing
    a rebuild starts it again from nothing (a seeding that died placed users whose ratings it
    never folded): the version is counted by no script while its counters are dropped."""
    models = stores.models
    if version == models.active_version() and models.rebuilding_version() != version:
        return
    with _holding(lock, stores, f"activate {version}") as held:
        started = time.perf_counter()
        flipped = version != models.active_version()
        if not flipped:  # the rebuild that died placed users it never counted: start again
            models.stop_counting(version)
        stores.ratings.fold_pending_deltas()  # so that none folds into the counters dropped
        models.drop_earlier_counters(version, models.clusters_of(version))
        if flipped:
            models.mark_rebuilding(version)
        held.flip(version)
        if flipped:
            log.info("activate %s: active after %.2f s", version, time.perf_counter() - started)
        report("serving; rebuilding the counters")
        if flipped:  # the serving processes load the version first
            time.sleep(stores.settings.rebuild_head_start)
        live = LiveModel(models.load(version, COUNTER_COMPONENTS))
        shrink = live.manifest.get("config", {}).get("shrink", BundleConfig.shrink)
        write_counter_params(live, stores, shrink)
        if flipped:
            models.drop_inactive_counters()
        assign_users(live, stores, progress)
        models.mark_rebuilt(version)
        log.info("activate %s: counters rebuilt after %.1f s", version,
                 time.perf_counter() - started)


def prepare_counters(live: LiveModel, stores: Stores, shrink: float) -> None:
    """What the Lua script needs to keep the version's counters (its earlier ones dropped)."""
    stores.models.drop_earlier_counters(live.version, live.clusters)
    write_counter_params(live, stores, shrink)


def write_counter_params(live: LiveModel, stores: Stores, shrink: float) -> None:
    """The version's shrinkage, global mean and movie priors (its baseline) for merge.lua."""
    baseline = live.baseline
    stores.models.write_counter_params(live.version, shrink=shrink, mu=baseline.global_mean_,
                                       movie_ids=live.movies.ids,
                                       priors=baseline.global_mean_ + baseline.item_bias_,
                                       clusters=live.clusters)


def assign_users(live: LiveModel, stores: Stores, progress: bool) -> None:
    """Place every user of the ratings store in their cluster under the version, which the
    Lua script counts (being built or active), and seed its counters with their ratings
    (:mod:`shared.store.seeding`); the events that come meanwhile keep them current."""
    version, store = live.version, stores.ratings
    seeding = Seeding(store, version)
    user_ids = list(store.iter_user_ids())
    with tqdm(total=len(user_ids), desc="assigning users", unit="user",
              disable=not progress) as bar:
        for start in range(0, len(user_ids), ASSIGN_BATCH):
            batch = user_ids[start:start + ASSIGN_BATCH]
            clusters = {uid: live.training_cluster(uid) for uid in batch}
            assignments = {uid: c for uid, c in clusters.items() if c is not None}
            unseen = [uid for uid, c in clusters.items() if c is None]
            # arrived after the snapshot: the classifier places those with ratings
            rated = [(uid, r) for uid, r in zip(unseen, store.live_ratings_many(unseen)) if r]
            if rated:
                placed = live.assign_clusters([r for _, r in rated])
                assignments.update(zip([uid for uid, _ in rated], placed.tolist()))
            if assignments and not seeding.place(assignments):
                raise LockLost(f"the ratings script no longer counts {version} (the trainer "
                               f"lock lapsed, or another version became active)")
            bar.update(len(batch))
    seeding.finish()


def _holding(lock: TrainerLock | None, stores: Stores, what: str):
    if lock is not None:
        return nullcontext(lock)
    return stores.trainer_lock().held(what)
