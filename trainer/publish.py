"""Publish a trained version and swap it in while serving goes on.

The new version's counters are built beside the active one (the Lua script keeps both
current while the trainer assigns users), then the active pointer flips in one command.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from shared.store.keys import Keys
from shared.recsys.persist import ModelBundle
from shared.store.models import ModelStore
from shared.recsys.served import LiveModel
from shared.store.ratings import RatingStore

ASSIGN_BATCH = 200
KEEP_VERSIONS = 2  # the active one and one to roll back to


def publish(bundle: ModelBundle, store: RatingStore, models: ModelStore, shrink: float,
            progress: bool = True) -> str:
    keys: Keys = store.keys
    r = store.redis
    version = bundle.version
    models.save(bundle)
    live = LiveModel(models.load(version))
    baseline = live.baseline
    with r.pipeline() as pipe:
        pipe.hset(keys.version_params(version), mapping={"shrink": shrink, "mu": baseline.global_mean_})
        priors = baseline.global_mean_ + baseline.item_bias_
        for start in range(0, len(priors), 5000):
            pipe.hset(keys.movie_priors(version), mapping={
                int(m): float(p) for m, p in zip(live.movies.ids[start:start + 5000],
                                                 priors[start:start + 5000])})
        pipe.set(keys.building_version, version)
        pipe.execute()

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
                ratings = {m: v[0] for m, v in store.user_ratings(uid).items()}
                if ratings:
                    assignments[uid] = live.assign_cluster(ratings)
            if assignments:
                store.assign(version, assignments)
            bar.update(len(batch))

    with r.pipeline() as pipe:
        pipe.set(keys.active_version, version)
        pipe.delete(keys.building_version)
        pipe.execute()
    drop_old_counters(store, models, keep=KEEP_VERSIONS)
    return version


def drop_old_counters(store: RatingStore, models: ModelStore, keep: int) -> list[str]:
    """Delete the live counters of all but the newest ``keep`` versions (their arrays stay)."""
    versions = models.versions()
    active = models.active_version()
    dropped = []
    for version in versions[:-keep] if keep else versions:
        if version == active:
            continue
        for key in store.redis.scan_iter(match=store.keys.version_pattern(version), count=1000):
            store.redis.unlink(key)
        dropped.append(version)
    return dropped
