"""``movierec up`` (what ``make run`` runs): Redis, data, then the API and workers supervised."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from movierec.credentials import API_KEYS_FILE, api_keys
from shared import config

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = dict(n_users=600, n_movies=3000, n_ratings=60_000, seed=0)


def _load_data(stores, data: Path | None, var_dir: Path) -> None:
    from shared.data import movielens
    from shared.data.synthetic import generate
    from shared.store.importer import import_folder

    catalogue = stores.catalogue
    if data is None and catalogue.n_movies():
        click.echo("movierec: data already loaded from "
                   f"{catalogue.import_meta().get('source', '?')}")
        return
    if data is None:
        data = var_dir / "data" / "generated"
        if not (data / "ratings.csv").exists():
            click.echo(f"movierec: generating the default data set in {data}/")
            generate(data, DEFAULT_DATA["n_users"], DEFAULT_DATA["n_movies"],
                     DEFAULT_DATA["n_ratings"], seed=DEFAULT_DATA["seed"], progress=True)
    try:
        result = import_folder(data, stores.ratings, catalogue)
    except movielens.LoadError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"movierec: imported {data} ({result.format}): {result.movies:,} movies, "
               f"{result.ratings_read:,} ratings ({result.ratings_changed:,} changed) "
               f"in {result.seconds:.1f} s")


def _train_if_needed(stores) -> None:
    from movierec.commands.train import train_and_publish

    models = stores.models
    version = models.active_version()
    if version:
        click.echo(f"movierec: serving model version {version}")
        return
    click.echo("movierec: training the first model")
    bundle = train_and_publish(stores)
    click.echo(f"movierec: model version {bundle.version} is active")


def _processes(workers: int) -> list[tuple[str, str]]:
    from honcho.environ import expand_processes, parse_procfile

    procfile = parse_procfile((ROOT / "Procfile").read_text())
    return [(p.name, p.cmd) for p in expand_processes(
        procfile.processes, concurrency={"worker": workers})]


def _write_atomically(path: Path, text: str) -> None:
    """Other commands read this file at any moment: they see the old text or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _api_keys(settings) -> dict[str, str]:
    """The API keys to start with: none to add when the environment names a write and an admin
    key, else those of var/api-keys.env (made on the first run); a guessable key stops here."""
    keys = {}
    if not (settings.write_keys and settings.admin_keys):
        try:
            keys = api_keys(settings.var_dir)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        config.require_keys(config.load({**os.environ, **keys}))
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return keys


def _start_cluster(settings, masters: int):
    """The local cluster of ``masters`` masters on the ports after the private Redis's."""
    from movierec.credentials import redis_password
    from movierec.redis_cluster import start_cluster
    from movierec.redis_server import RedisUnavailable

    try:
        return start_cluster(settings.var_dir, settings.private_redis_port + 1, masters=masters,
                             password=redis_password(settings.var_dir),
                             allow_apt=settings.allow_apt, maxmemory=settings.redis_maxmemory,
                             appendfsync=settings.redis_appendfsync)
    except RedisUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _welcome(url: str, redis_url: str, keys: dict[str, str], settings) -> str:
    """What to try once it is up, with the keys to try it with."""
    scheme, _, rest = redis_url.partition("://")
    redis_shown = f"{scheme}://{rest.split('@', 1)[1]}" if "@" in rest else redis_url
    if keys:
        write_key = keys["MOVIEREC_WRITE_KEYS"]
        where = (f"API keys (header X-API-Key), kept in {settings.var_dir / API_KEYS_FILE}:\n"
                 f"  write: {write_key}\n  admin: {keys['MOVIEREC_ADMIN_KEYS']}\n")
    else:
        write_key = "$MOVIEREC_WRITE_KEYS"
        where = "API keys: those of MOVIEREC_WRITE_KEYS and MOVIEREC_ADMIN_KEYS\n"
    event = '{"type": "rating", "user_id": 1, "movie_id": 1, "rating": 4.5}'
    return (f"\nmovierec is starting at {url} (Redis: {redis_shown}); Ctrl-C stops it.\n{where}"
            f"  curl {url}/readyz\n"
            f"  curl '{url}/v1/users/1/recommendations?n=5'\n"
            f"  curl -X POST {url}/v1/events -H 'X-API-Key: {write_key}' \\\n"
            f"       -H 'Content-Type: application/json' -d '{event}'\n"
            f"  curl '{url}/v1/movies/1/similar?n=5'\n"
            f"  curl {url}/openapi.json\n")


@click.command("up")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              envvar="DATA", help="MovieLens folder to load ($DATA); default: a generated set.")
@click.option("--port", type=int, default=None, help="API port (default: $PORT or 8000).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="RQ worker processes.")
@click.option("--cluster", "masters", type=click.IntRange(min=3), default=None,
              help="Keep the data on a local Redis Cluster of this many masters, "
                   "the queues on the private Redis.")
def command(data: Path | None, port: int | None, workers: int, masters: int | None):
    """Start everything on this machine: Redis, data, API and workers; Ctrl-C stops it all.

    Redis is $REDIS_URL when it answers, otherwise a private redis-server on
    $MOVIEREC_REDIS_PORT (6390) under $MOVIEREC_VAR_DIR/redis (append-only file on), installed
    with apt-get when missing and possible (not with $MOVIEREC_NO_APT set). With --cluster N,
    the data goes to a local Redis Cluster of N masters on the ports after it (under
    $MOVIEREC_VAR_DIR/redis-cluster, same password), and that Redis keeps the queues.
    """
    import redis
    from honcho.manager import Manager
    from honcho.printer import Printer

    from movierec.redis_server import RedisUnavailable, ensure_configured_redis
    from shared.store.client import client_for
    from shared.store.layout import LayoutError
    from shared.store.stores import Stores

    settings = config.load()
    port = port or settings.port
    keys = _api_keys(settings)
    try:
        handle = ensure_configured_redis(settings)
    except RedisUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    url_file = settings.var_dir / config.REDIS_URL_FILE
    queue_file = settings.var_dir / config.QUEUE_URL_FILE
    handles = [handle]
    try:
        redis_url, queue_env = handle.url, {}
        if masters:
            cluster = _start_cluster(settings, masters)
            handles.append(cluster)
            redis_url, queue_env = cluster.url, {"MOVIEREC_QUEUE_URL": handle.url}
            _write_atomically(queue_file, handle.url + "\n")
        _write_atomically(url_file, redis_url + "\n")
        settings = config.load({**os.environ, "REDIS_URL": redis_url, **queue_env})
        try:
            stores = Stores(client_for(settings), settings, redis.Redis.from_url(handle.url))
        except LayoutError as exc:
            raise click.ClickException(str(exc)) from None
        _load_data(stores, data, settings.var_dir)
        _train_if_needed(stores)

        env = dict(os.environ, **keys, **queue_env, REDIS_URL=redis_url, HOST=settings.host,
                   PORT=str(port),
                   PYTHONUNBUFFERED="1",
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        manager = Manager(Printer(sys.stdout))
        for name, cmd in _processes(workers):
            manager.add_process(name, cmd, env=env, cwd=str(Path.cwd()))
        click.echo(_welcome(f"http://{config.address(settings.host, port)}", redis_url, keys,
                            settings))
        manager.loop()
    finally:
        url_file.unlink(missing_ok=True)
        queue_file.unlink(missing_ok=True)
        for started in reversed(handles):
            started.stop()
    sys.exit(manager.returncode or 0)
