"""``movierec models``: the stored model versions; activate (roll back to) or delete one."""
from __future__ import annotations

import json
import time

import click

from movierec.commands import connect
from shared import config


def _summary(manifest: dict | None) -> str:
    if not manifest:
        return "no manifest"
    data = manifest.get("data", {})
    parts = [f"{data.get('users', 0):,} users", f"{data.get('ratings', 0):,} ratings"]
    if manifest.get("k"):
        parts.append(f"k={manifest['k'].get('chosen')}")
    held_out = manifest.get("holdout") or {}
    for label, key in (("nDCG@10", "ndcg_at_10"), ("RMSE", "rmse")):
        if held_out.get(key) is not None:
            parts.append(f"{label} {held_out[key]:.4f}")
    gate = manifest.get("gate") or {}
    if gate.get("reasons"):
        parts.append(("forced past the gate: " if gate.get("forced") else "gate: ")
                     + "; ".join(gate["reasons"]))
    return ", ".join(parts)


@click.group("models")
def command():
    """The model versions stored in Redis ($REDIS_URL, or the one `make run` started)."""


@command.command("list")
def list_versions():
    """Every stored version, oldest first; * marks the active one."""
    models = connect(config.load()).models
    active, building, states = models.active_version(), models.building_version(), models.states()
    rebuilding = models.rebuilding_version()
    versions = models.versions()
    if not versions:
        click.echo("no model versions stored: run `movierec train`")
        return
    trained = dict(models.redis.zrange(models.keys.versions, 0, -1, withscores=True))
    for version in versions:
        state = "building" if version == building else states.get(version, "published")
        if version == rebuilding:
            state = "rebuilding"  # serving, its counters not yet whole
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(trained.get(version.encode(), 0)))
        mark = "*" if version == active else " "
        click.echo(f"{mark} {version}  {when} UTC  {state:<9}  "
                   f"{_summary(models.manifest(version))}")


@command.command("show")
@click.argument("version")
def show(version: str):
    """A version's manifest: data, parameters, clusters, metrics, timings (JSON)."""
    models = connect(config.load()).models
    manifest = models.manifest(version)
    if manifest is None:
        raise click.ClickException(f"no model version {version}: `movierec models list` shows them")
    click.echo(json.dumps(manifest, indent=2, sort_keys=True))


@command.command("activate")
@click.argument("version")
def activate(version: str):
    """Make a kept VERSION active again (a rollback): every API process switches within a
    second, then its cluster counters are rebuilt from the ratings store. On the active
    VERSION, finish a rebuild that a stopped rollback left half-way."""
    from shared.store.trainer_lock import LockHeld, LockLost
    from trainer.publish import activate_version

    stores = connect(config.load())
    if version not in stores.models.versions():
        raise click.ClickException(f"no model version {version}: `movierec models list` shows them")
    lock = stores.trainer_lock()
    try:
        with lock.held(f"movierec models activate {version}"):
            activate_version(version, stores, lock=lock, report=lambda stage: click.echo(
                f"{version} is active; its counters are being rebuilt", err=True))
    except (LockHeld, LockLost) as exc:
        active = stores.models.active_version()
        raise click.ClickException(f"{exc}; the active version is {active}") from None
    click.echo(f"{version} is active, its counters rebuilt")


@command.command("delete")
@click.argument("version")
def delete(version: str):
    """Delete VERSION from Redis and the model folder (never the active one)."""
    from shared.store.trainer_lock import LockHeld

    stores = connect(config.load())
    models = stores.models
    if version not in models.versions():
        raise click.ClickException(f"no model version {version}: `movierec models list` shows them")
    if version == models.active_version():
        raise click.ClickException(f"{version} is the active version: activate another one first")
    try:
        with stores.trainer_lock().held("delete"):
            models.discard(version)
    except LockHeld as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deleted {version}")
