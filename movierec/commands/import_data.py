"""``movierec import``: a MovieLens folder into Redis."""
from __future__ import annotations

from pathlib import Path

import click

from movierec.commands import connect
from shared import config


@click.command("import")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def command(data_dir: Path):
    """Load DATA_DIR's movies and ratings into Redis ($REDIS_URL).

    Any MovieLens format is detected from the folder's files (ml-latest CSV, ml-100k, ml-1m,
    ml-10m, hetrec2011-movielens-2k). Importing the same folder again changes nothing.
    """
    from shared.data import movielens
    from shared.store.importer import import_folder

    stores = connect(config.load())
    try:
        result = import_folder(data_dir, stores.ratings, stores.catalogue)
    except movielens.LoadError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"imported {data_dir} ({result.format}): {result.movies:,} movies, "
               f"{result.ratings_read:,} ratings read, {result.ratings_changed:,} changed, "
               f"in {result.seconds:.1f} s")
