"""``movierec serve``: the API under gunicorn."""
from __future__ import annotations

import click
from gunicorn.app.base import BaseApplication

from shared import config


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from api import create_app

        return create_app()


@click.command("serve")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=None, help="Port (default: $PORT or 8000).")
@click.option("--workers", type=int, default=None,
              help="gunicorn worker processes (default: $API_WORKERS or 2).")
def command(host: str, port: int | None, workers: int | None):
    """Serve the HTTP API with gunicorn."""
    settings = config.load()
    _Gunicorn({
        "bind": f"{host}:{port or settings.port}",
        "workers": workers or settings.api_workers,
        "worker_class": "sync",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "timeout": 30,
        "keepalive": 5,
    }).run()
