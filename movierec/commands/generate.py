"""``movierec generate``: a synthetic MovieLens-shaped data set (ml-latest CSV format)."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("generate")
@click.option("--users", "n_users", type=click.IntRange(min=1), default=600, show_default=True,
              help="Number of users.")
@click.option("--movies", "n_movies", type=click.IntRange(min=1), default=3000, show_default=True,
              help="Number of movies.")
@click.option("--ratings", "n_ratings", type=click.IntRange(min=1), default=60_000,
              show_default=True, help="Number of ratings.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed: the same seed writes the same files.")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
def command(n_users: int, n_movies: int, n_ratings: int, seed: int, out: Path):
    """Write a MovieLens-shaped data set to OUT/ (movies.csv, ratings.csv, tags.csv).

    Movie popularity follows a power law, user activity a log-normal, and users come from
    latent taste groups, so clustering has something to find. Streams to disk: 20 million
    ratings need little memory.
    """
    from shared.data.synthetic import generate

    try:
        stats = generate(out, n_users, n_movies, n_ratings, seed=seed, progress=True)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"wrote {stats.n_ratings:,} ratings by {stats.n_users:,} users of "
               f"{stats.n_movies:,} movies ({stats.n_tags:,} tags) to {out}/ "
               f"(mean rating {stats.rating_mean:.2f}, sd {stats.rating_sd:.2f})")
