"""Liveness and readiness probes."""
from __future__ import annotations

from flask import Blueprint, jsonify

from api.services import services
from shared.store.client import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready to serve: Redis reachable, the catalogue loaded and a model active."""
    svc = services()
    ready, checks = readiness(svc.redis, svc.store.n_movies, svc.models.store.active_version)
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503
