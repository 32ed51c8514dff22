"""``movierec serve``: the API under gunicorn."""
from __future__ import annotations

import os
import tempfile

import click
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from movierec.logs import log_config
from shared import config


class GunicornLogger(Logger):
    """gunicorn's logger without its access log: the API writes its own, with the request id
    and the endpoint (api/access_log.py). gunicorn builds every request's access-log fields
    whenever a logging configuration is given, even with ``gunicorn.access`` silenced."""

    def access(self, resp, req, environ, request_time):
        pass


def gunicorn_options(bind: str, workers: int, worker_class: str) -> dict:
    """The one gunicorn configuration the API runs under (benchmarks reuse it). On SIGTERM a
    worker finishes the requests it holds and waits up to ``keepalive`` for an idle keep-alive
    connection's next one; past ``graceful_timeout`` it is killed, within the 10 s supervisors
    give before SIGKILL (gunicorn's default, 30 s, is past it)."""
    return {"bind": bind, "workers": workers, "worker_class": worker_class, "accesslog": None,
            "logger_class": GunicornLogger, "errorlog": "-", "loglevel": "warning",
            "timeout": 30, "keepalive": 5, "graceful_timeout": 8}


class GunicornApp(BaseApplication):
    """Runs the WSGI app ``factory()`` under gunicorn with ``options``."""

    def __init__(self, factory, options: dict):
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.factory()


def _create_app():
    from api import create_app

    app = create_app()
    app.extensions["movierec"].warm()  # before the worker takes its first request
    return app


@click.command("serve")
@click.option("--host", default=None,
              help="Address to listen on (default: $HOST or 127.0.0.1, this machine only; "
                   "0.0.0.0 for every network).")
@click.option("--port", type=int, default=None, help="Port (default: $PORT or 8000).")
@click.option("--workers", type=int, default=None,
              help="gunicorn worker processes (default: $API_WORKERS, or CPU cores + 1).")
@click.option("--worker-class", type=click.Choice(config.API_WORKER_CLASSES), default=None,
              help="gunicorn worker class (default: $API_WORKER_CLASS, or gevent).")
def command(host: str | None, port: int | None, workers: int | None, worker_class: str | None):
    """Serve the HTTP API with gunicorn (GET /metrics adds up what its processes count)."""
    settings = config.load()
    try:
        config.require_keys(settings)
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    bind = config.address(host or settings.host, port or settings.port)
    options = gunicorn_options(bind, workers or settings.api_workers,
                               worker_class or settings.api_worker_class)
    options["child_exit"] = _forget_dead_worker
    options["logconfig_dict"] = log_config(settings, "api")
    with tempfile.TemporaryDirectory(prefix="movierec-metrics-") as folder:
        # read by prometheus-client in each worker, which the master forks after this
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        try:
            GunicornApp(_create_app, options).run()
        finally:  # the folder goes: so must its name (a caller in the same process would read it)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def _forget_dead_worker(server, worker) -> None:
    """A worker that exited no longer counts in the live gauges it wrote."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
