"""``movierec events dead-letter list|replay``: inbox items whose drain kept failing."""
from __future__ import annotations

import time

import click

from movierec.commands import connect
from shared import config


@click.group("events")
def command():
    """The events waiting in Redis and those set aside."""


@command.group("dead-letter")
def dead_letter():
    """Inbox items the ratings script failed on POISON_ATTEMPTS times, set aside so that the
    events behind them flow on."""


@dead_letter.command("list")
def list_letters():
    """Every dead letter, oldest first: id, when, attempts, items, error."""
    letters = connect(config.load()).inbox.dead_letters()
    if not letters:
        click.echo("no dead letters")
        return
    for letter in letters:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(letter["failed_at"]))
        click.echo(f"{letter['id']}  {when} UTC  {letter['attempts']} attempts  "
                   f"{len(letter['items'])} item(s)  {letter['error']}")
        for item in letter["items"]:
            click.echo(f"    {item}")


@dead_letter.command("replay")
@click.argument("ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Replay every dead letter.")
def replay(ids: tuple[str, ...], everything: bool):
    """Put the items of dead letters IDS back into the inbox once their cause is fixed; a
    worker applies them (or sets them aside again, if they still fail)."""
    from shared.store.queue import enqueue_drain

    if bool(ids) == everything:
        raise click.UsageError("give the ids of the dead letters to replay, or --all")
    stores = connect(config.load())
    try:
        count = stores.inbox.replay_dead_letters(None if everything else ids)
    except KeyError as exc:
        raise click.ClickException(f"{exc.args[0]}: `movierec events dead-letter list` "
                                   "shows them") from None
    for lane in range(stores.inbox.lanes) if count else ():
        if stores.inbox.claim_drain(lane):
            enqueue_drain(stores.events_queue, lane)
    click.echo(f"{count} item(s) back in the inbox")
