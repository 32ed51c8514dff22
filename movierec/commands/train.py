"""``movierec train``: fit the pipeline on the ratings in Redis and make it the active version."""
from __future__ import annotations

import click

from movierec.commands import connect
from shared import config


def train_and_publish(store, models, settings: config.Settings, snapshot=None,
                      k_rule: str = "silhouette", model: str | None = None):
    """Holding the trainer lock: discard what trainers that died left, fit the pipeline on
    ``snapshot`` (default: ``store``'s ratings now) with ``settings``' k range and smallest
    cluster, publish the version into ``models`` and make it active; returns the bundle.
    Another trainer running is a clean error naming it."""
    from shared.store.trainer_lock import LockHeld, LockLost, TrainerLock
    from trainer.pipeline import PipelineConfig, fit_pipeline
    from trainer.publish import publish

    pipeline_config = PipelineConfig(k_range=settings.k_range, k_rule=k_rule,
                                     min_cluster_size=settings.min_cluster_size,
                                     **({"model": model} if model else {}))
    lock = TrainerLock(store.redis, store.keys, settings.trainer_lock_seconds)
    try:
        with lock.held("movierec train"):
            for version in models.discard_abandoned():
                click.echo(f"discarded {version}, left half-built by a trainer that stopped")
            snapshot = store.snapshot() if snapshot is None else snapshot
            bundle = fit_pipeline(snapshot, store.movies_frame(), pipeline_config)
            publish(bundle, store, models, shrink=pipeline_config.shrink, lock=lock,
                    keep=settings.keep_versions)
    except LockHeld as exc:
        raise click.ClickException(f"{exc}; try again when it is done, or after "
                                   f"{settings.trainer_lock_seconds} s if it was killed")
    except LockLost as exc:
        raise click.ClickException(f"{exc}; the active version is unchanged")
    return bundle


@click.command("train")
@click.option("--k", "k_rule", default="silhouette", show_default=True,
              help="How to choose k: 'silhouette' (seed 002), 'elbow' (seed 001) or a number.")
@click.option("--model", default=None, help="Recommender to serve (default: the registry's default).")
def command(k_rule: str, model: str | None):
    """Train on the ratings in Redis ($REDIS_URL), publish the version and activate it.

    Chooses k over $K_RANGE, runs k-means, fixes small clusters, fits the recommender, the
    softmax classifier and the similar-movies index, then swaps the version in while serving
    goes on.
    """
    from shared.store.keys import Keys
    from shared.store.models import ModelStore
    from shared.recsys.models import registry
    from shared.store.ratings import RatingStore

    if k_rule not in ("elbow", "silhouette") and not k_rule.isdigit():
        raise click.BadParameter("must be 'elbow', 'silhouette' or a whole number", param_hint="--k")
    if model is not None and model not in registry.available():
        raise click.BadParameter(f"unknown model; choose from {', '.join(registry.available())}",
                                 param_hint="--model")
    settings = config.load()
    client = connect(settings)
    keys = Keys(settings.key_prefix)
    store = RatingStore(client, keys)
    snapshot = store.snapshot()
    if snapshot.empty or (snapshot["rating"] > 0).sum() == 0:
        raise click.ClickException("no ratings in Redis to train on: run `movierec import DIR` first")
    bundle = train_and_publish(store, ModelStore(client, keys, settings.model_dir), settings,
                               snapshot, k_rule=k_rule, model=model)
    manifest = bundle.manifest
    click.echo(f"trained version {bundle.version}: {manifest['data']['users']:,} users, "
               f"{manifest['data']['ratings']:,} ratings, k={manifest['k']['chosen']} -> "
               f"{len(manifest['clusters']['after_fixing'])} clusters after fixing; "
               f"fit {sum(manifest['fit_seconds'].values()):.1f} s; now active")
