"""The reference for python -m bench.live: Flask's hello world under the API's own gunicorn set-up.

``python bench/live/hello.py --bind 127.0.0.1:PORT --workers 3 --worker-class gevent`` runs it
with ``movierec.commands.serve.gunicorn_options`` and ``GunicornApp``, so the only difference
from ``movierec serve`` is the application.
"""
from __future__ import annotations

import argparse

from flask import Flask

from movierec.commands.serve import GunicornApp, gunicorn_options


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def hello():
        return "Hello, World!"

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", required=True, help="HOST:PORT")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gevent")
    args = parser.parse_args()
    GunicornApp(create_app, gunicorn_options(args.bind, args.workers, args.worker_class)).run()


if __name__ == "__main__":
    main()
