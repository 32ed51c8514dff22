"""Publish a trained version and swap it in while serving goes on.

The new version's counters are built beside the active one (the Lua script keeps both
current while the trainer assigns users), then the active pointer flips in one command.
"""
from __future__ import annotations

from tqdm import tqdm

from shared.recsys.persist import ModelBundle
from shared.recsys.served import LiveModel
from shared.store.models import ModelStore
from shared.store.ratings import RatingStore

ASSIGN_BATCH = 200
KEEP_VERSIONS = 2  # the active one and one to roll back to


def publish(bundle: ModelBundle, store: RatingStore, models: ModelStore, shrink: float,
            progress: bool = True) -> str:
    version = bundle.version
    models.save(bundle)
    live = LiveModel(bundle)
    baseline = live.baseline
    models.prepare_counters(version, shrink=shrink, mu=baseline.global_mean_,
                            movie_ids=live.movies.ids,
                            priors=baseline.global_mean_ + baseline.item_bias_)

    user_ids = list(store.iter_user_ids())
    with tqdm(total=len(user_ids), desc="assigning users", unit="user", disable=not progress) as bar:
        for start in range(0, len(user_ids), ASSIGN_BATCH):
            batch = user_ids[start:start + ASSIGN_BATCH]
            assignments = {}
            unseen = []
            for uid in batch:
                cluster = live.training_cluster(uid)
                if cluster is None:
                    unseen.append(uid)
                else:
                    assignments[uid] = cluster
            for uid in unseen:  # arrived after the snapshot: the new classifier places them
                ratings = store.live_ratings(uid)
                if ratings:
                    assignments[uid] = live.assign_cluster(ratings)
            if assignments:
                store.assign(version, assignments)
            bar.update(len(batch))

    models.activate_built(version)
    drop_old_counters(models, keep=KEEP_VERSIONS)
    return version


def drop_old_counters(models: ModelStore, keep: int) -> list[str]:
    """Delete the live counters of all but the newest ``keep`` versions (their arrays stay)."""
    versions = models.versions()
    active = models.active_version()
    dropped = []
    for version in versions[:-keep] if keep else versions:
        if version == active:
            continue
        models.drop_counters(version)
        dropped.append(version)
    return dropped
