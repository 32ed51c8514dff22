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

from shared.config import Settings
from shared.recsys.pipeline import BundleConfig
from shared.recsys.persist import ModelBundle
from shared.recsys.served import LiveModel
from shared.store.models import ModelStore
from shared.store.ratings import RatingStore
from shared.store.trainer_lock import LockLost, TrainerLock

ASSIGN_BATCH = 200
# What a rollback loads: the baseline gives the counters' priors; the labels and the
# classifier place every user.
COUNTER_COMPONENTS = ("baseline", "softmax")


def publish(bundle: ModelBundle, store: RatingStore, models: ModelStore, shrink: float,
            progress: bool = True, lock: TrainerLock | None = None,
            keep: int = Settings.keep_versions) -> str:
    """Store ``bundle``, build its counters, activate it and prune old versions, holding
    ``lock`` (or taking the trainer lock for the call)."""
    with _holding(lock, models, "publish") as held:
        models.save(bundle)
        build_counters(LiveModel(bundle), store, models, held, shrink, progress)
        held.flip(bundle.version)
        models.prune(keep)
    return bundle.version


def activate_version(version: str, store: RatingStore, models: ModelStore,
                     progress: bool = True, lock: TrainerLock | None = None) -> None:
    """Make a kept version active again, with its counters rebuilt from the ratings store
    (with the shrinkage it was trained with)."""
    if version == models.active_version():
        return
    with _holding(lock, models, f"activate {version}") as held:
        live = LiveModel(models.load(version, COUNTER_COMPONENTS))
        shrink = live.manifest.get("config", {}).get("shrink", BundleConfig.shrink)
        build_counters(live, store, models, held, shrink, progress)
        held.flip(version)
        models.drop_inactive_counters()


def build_counters(live: LiveModel, store: RatingStore, models: ModelStore, lock: TrainerLock,
                   shrink: float, progress: bool) -> None:
    """The version's cluster counters from every user in the ratings store, kept current by
    the Lua script from the moment the lock points it at the version."""
    version = live.version
    baseline = live.baseline
    models.prepare_counters(version, shrink=shrink, mu=baseline.global_mean_,
                            movie_ids=live.movies.ids,
                            priors=baseline.global_mean_ + baseline.item_bias_)
    lock.build(version)
    user_ids = list(store.iter_user_ids())
    with tqdm(total=len(user_ids), desc="assigning users", unit="user", disable=not progress) as bar:
        for start in range(0, len(user_ids), ASSIGN_BATCH):
            batch = user_ids[start:start + ASSIGN_BATCH]
            assignments = {}
            for uid in batch:
                cluster = live.training_cluster(uid)
                if cluster is None:  # arrived after the snapshot: the classifier places them
                    ratings = store.live_ratings(uid)
                    if ratings:
                        assignments[uid] = live.assign_cluster(ratings)
                else:
                    assignments[uid] = cluster
            if assignments and store.assign(version, assignments) < 0:
                raise LockLost(f"the ratings script no longer builds {version}'s counters "
                               f"(the trainer lock lapsed)")
            bar.update(len(batch))


def _holding(lock: TrainerLock | None, models: ModelStore, what: str):
    if lock is not None:
        return nullcontext(lock)
    return TrainerLock(models.redis, models.keys).held(what)
