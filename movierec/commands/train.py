"""``movierec train``: fit the pipeline on the ratings in Redis and make it the active version."""
from __future__ import annotations

import click

from movierec.commands import connect
from shared import config


def train_and_publish(store, models, settings: config.Settings, snapshot=None,
                      k_rule: str = "silhouette", model: str | None = None):
    """:func:`trainer.retrain.retrain` with its failures as clean CLI errors; the bundle."""
    from shared.store.trainer_lock import LockHeld, LockLost
    from trainer.retrain import NothingToTrainOn, retrain

    try:
        bundle, discarded = retrain(store, models, settings, "movierec train", snapshot,
                                    k_rule=k_rule, model=model)
    except LockHeld as exc:
        raise click.ClickException(f"{exc}; try again when it is done, or after "
                                   f"{settings.trainer_lock_seconds} s if it was killed")
    except LockLost as exc:
        raise click.ClickException(f"{exc}; the active version is unchanged")
    except NothingToTrainOn as exc:
        raise click.ClickException(str(exc))
    for version in discarded:
        click.echo(f"discarded {version}, left half-built by a trainer that stopped")
    return bundle


@click.command("train")
@click.option("--k", "k_rule", default="silhouette", show_default=True,
              help="How to choose k: 'silhouette' (seed 002), 'elbow' (seed 001) or a number.")
@click.option("--model", default=None, help="Recommender to serve (default: the registry's default).")
def command(k_rule: str, model: str | None):
    """Train on the ratings in Redis ($REDIS_URL), publish the version and activate it.

    Chooses k over $K_RANGE, runs k-means, fixes small clusters, fits the recommender, the
    softmax classifier and the similar-movies index, then swaps the version in while serving
    goes on. One trainer runs at a time (the others are told which one runs).
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
    bundle = train_and_publish(store, ModelStore(client, keys, settings.model_dir), settings,
                               k_rule=k_rule, model=model)
    manifest = bundle.manifest
    click.echo(f"trained version {bundle.version}: {manifest['data']['users']:,} users, "
               f"{manifest['data']['ratings']:,} ratings, k={manifest['k']['chosen']} -> "
               f"{len(manifest['clusters']['after_fixing'])} clusters after fixing; "
               f"fit {sum(manifest['fit_seconds'].values()):.1f} s; now active")
