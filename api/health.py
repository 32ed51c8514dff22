"""Liveness and readiness probes."""
from __future__ import annotations

import redis
from flask import Blueprint, jsonify

from api.services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready to serve: Redis reachable, the catalogue loaded and a model active."""
    svc = services()
    checks = {}
    try:
        svc.redis.ping()
        checks["redis"] = "ok"
        n_movies = svc.store.n_movies()
        checks["data"] = f"{n_movies} movies" if n_movies else "no movies loaded (run `movierec import`)"
        version = svc.models.store.active_version()
        checks["model"] = version or "no active model (run `movierec train`)"
        ready = n_movies > 0 and version is not None
    except redis.RedisError as exc:
        checks["redis"] = f"unreachable: {exc}"
        ready = False
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503
