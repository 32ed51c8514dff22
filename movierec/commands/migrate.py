"""``movierec migrate``: move a store written by an earlier release to the partitioned layout."""
from __future__ import annotations

import click
from tqdm import tqdm

from movierec.commands import redis_origin
from shared import config


@click.command("migrate")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def command(progress: bool):
    """Move the data of a store an earlier release wrote into the partitions of its users,
    movies and clusters (MOVIEREC_PARTITIONS of them, 16 by default). Stop the API and the
    workers first: they refuse the store until it is done. Stopped half-way, run it again:
    it goes on where it stopped."""
    from shared.store.client import StoreError, client_for
    from shared.store.keys import Keys, LayoutOneKeys
    from shared.store.migrate import migrate
    from shared.store.operations import Operations

    settings = config.load()
    client = client_for(settings)
    try:
        users = client.scard(LayoutOneKeys(settings.key_prefix).users)
        bar = tqdm(total=users, desc="moving users", unit="user", disable=not progress)

        def report(step: str, done: int) -> None:
            if step == "users":
                bar.update(done)

        workers = Operations(client, Keys(settings.key_prefix)).live_workers()
        if workers:
            raise click.ClickException(f"{len(workers)} worker(s) still running "
                                       f"({', '.join(workers)}): stop them first")
        with bar:
            moved = migrate(client, settings.key_prefix, settings.partitions, report)
    except StoreError as exc:
        raise click.ClickException(f"cannot reach Redis at {redis_origin(settings)}: "
                                   f"{exc}") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not moved:
        click.echo("the store is already in the partitioned layout: nothing to move")
        return
    click.echo("done: " + ", ".join(f"{count} {kind.replace('_', ' ')}"
                                    for kind, count in moved.items() if count))
