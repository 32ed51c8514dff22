"""``movierec train``: fit the pipeline on the ratings in Redis and make it the active version."""
from __future__ import annotations

import dataclasses
import logging

import click

from movierec.commands import connect
from shared import config


def train_and_publish(stores, snapshot=None, k_rule: str = "silhouette",
                      model: str | None = None, ranker: str | None = None, force: bool = False,
                      engine: str | None = None):
    """:func:`trainer.retrain.retrain` with its failures as clean CLI errors; the bundle."""
    from movierec.java import SparkUnavailable
    from shared.store.trainer_lock import LockHeld, LockLost
    from trainer.retrain import NothingToTrainOn, Rejected, retrain

    try:
        bundle, discarded = retrain(stores, "movierec train", snapshot, k_rule=k_rule,
                                    model=model, ranker=ranker, force=force, engine=engine)
    except SparkUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except Rejected as exc:
        raise click.ClickException(f"{exc}. The active version serves on; `movierec models "
                                   f"show {exc.version}` has the numbers, `movierec train "
                                   f"--force` would publish such a version anyway") from None
    except LockHeld as exc:
        raise click.ClickException(f"{exc}; try again when it is done, or after "
                                   f"{stores.settings.trainer_lock_seconds} s if it was "
                                   "killed") from None
    except LockLost as exc:
        raise click.ClickException(f"{exc}; the active version is unchanged") from None
    except NothingToTrainOn as exc:
        raise click.ClickException(str(exc)) from None
    for version in discarded:
        click.echo(f"discarded {version}, left half-built by a trainer that stopped")
    return bundle


@click.command("train")
@click.option("--k", "k_rule", default="silhouette", show_default=True,
              help="How to choose k: 'silhouette' (the best mean silhouette), 'elbow' (where "
                   "the inertia curve bends) or a number.")
@click.option("--model", default=None,
              help="Rating model of /predictions (default: the registry's default).")
@click.option("--ranker", default=None,
              help="Top-N model of the personal lists (default: the registry's default ranker).")
@click.option("--force", is_flag=True,
              help="Publish the version even if the gate finds it worse than the active one.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default=None,
              help="What fits it: this process, or Apache Spark (the `spark` extra and Java "
                   "17+) [default: $MOVIEREC_TRAIN_ENGINE, else local].")
@click.option("--spark-master", default=None, metavar="URL",
              help="With --engine spark: local[N], or a cluster's spark://HOST:7077 "
                   "[default: $MOVIEREC_SPARK_MASTER, else local[*]].")
def command(k_rule: str, model: str | None, ranker: str | None, force: bool,
            engine: str | None, spark_master: str | None):
    """Train on the ratings in Redis ($REDIS_URL), publish the version and activate it.

    Chooses k over $K_RANGE, runs k-means, fixes small clusters, fits the recommender, the
    softmax classifier and the similar-movies index, then swaps the version in while serving
    goes on. One trainer runs at a time (the others are told which one runs).
    """
    from shared.recsys.models import registry

    if k_rule not in ("elbow", "silhouette") and not k_rule.isdigit():
        raise click.BadParameter("must be 'elbow', 'silhouette' or a whole number",
                                 param_hint="--k")
    for name, hint in ((model, "--model"), (ranker, "--ranker")):
        if name is not None and name not in registry.available():
            raise click.BadParameter("unknown model; choose from "
                                     f"{', '.join(registry.available())}", param_hint=hint)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = config.load()
    if spark_master:
        settings = dataclasses.replace(settings, spark_master=spark_master)
    bundle = train_and_publish(connect(settings), k_rule=k_rule, model=model,
                               ranker=ranker, force=force, engine=engine)
    manifest = bundle.manifest
    held_out = manifest["holdout"]
    quality = ", ".join(f"{name} {held_out[key]:.4f}" for name, key in
                        (("nDCG@10", "ndcg_at_10"), ("RMSE", "rmse"))
                        if held_out.get(key) is not None)
    click.echo(f"trained version {bundle.version}: {manifest['data']['users']:,} users, "
               f"{manifest['data']['ratings']:,} ratings, k={manifest['k']['chosen']} -> "
               f"{len(manifest['clusters']['after_fixing'])} clusters after fixing; "
               f"fit {sum(manifest['fit_seconds'].values()):.1f} s; on {held_out['held_out']:,} "
               f"held-out ratings {quality or 'not measured'}; fitted "
               f"{_engine(manifest)}; now active"
               + (" (forced past the gate)" if manifest["gate"]["forced"] else ""))


def _engine(manifest: dict) -> str:
    engine = manifest.get("engine") or {"name": "local"}
    return "here" if engine["name"] == "local" else f"on Spark ({engine.get('master')})"
