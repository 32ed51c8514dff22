"""Publish a trained version and swap it in while serving goes on; roll back to a kept one.

Under the trainer lock, the version's counters are built beside the active one (the Lua script
keeps both current while the trainer assigns users), then the active pointer flips in one
command, and versions beyond the newest ``keep`` are deleted. Rolling back rebuilds the kept
version's counters from the ratings store the same way: counters of inactive versions are not
kept current, so old ones would be stale.
"""
from __future__ import annotations

from contextlib import nullcontext

from tqdm import tqdm

from shared.recsys.persist import ModelBundle
from shared.recsys.pipeline import BundleConfig
from shared.recsys.served import LiveModel
from shared.store.stores import Stores
from shared.store.trainer_lock import LockLost, TrainerLock

ASSIGN_BATCH = 200
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
        build_counters(LiveModel(bundle), stores, held, shrink, progress)
        held.flip(bundle.version)
        models.prune(stores.settings.keep_versions)
    return bundle.version


def activate_version(version: str, stores: Stores, progress: bool = True,
                     lock: TrainerLock | None = None) -> None:
    """Make a kept version active again, with its counters rebuilt from the ratings store
    (with the shrinkage it was trained with)."""
    models = stores.models
    if version == models.active_version():
        return
    with _holding(lock, stores, f"activate {version}") as held:
        live = LiveModel(models.load(version, COUNTER_COMPONENTS))
        shrink = live.manifest.get("config", {}).get("shrink", BundleConfig.shrink)
        build_counters(live, stores, held, shrink, progress)
        held.flip(version)
        models.drop_inactive_counters()


def build_counters(live: LiveModel, stores: Stores, lock: TrainerLock, shrink: float,
                   progress: bool) -> None:
    """The version's cluster counters from every user in the ratings store, kept current by
    the Lua script from the moment the lock points it at the version."""
    version, baseline, store = live.version, live.baseline, stores.ratings
    stores.models.prepare_counters(version, shrink=shrink, mu=baseline.global_mean_,
                                   movie_ids=live.movies.ids,
                                   priors=baseline.global_mean_ + baseline.item_bias_,
                                   clusters=live.clusters)
    lock.build(version)
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
            if assignments and store.assign(version, assignments) < 0:
                raise LockLost(f"the ratings script no longer builds {version}'s counters "
                               f"(the trainer lock lapsed)")
            bar.update(len(batch))


def _holding(lock: TrainerLock | None, stores: Stores, what: str):
    if lock is not None:
        return nullcontext(lock)
    return stores.trainer_lock().held(what)
