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
    """Ready to serve: Redis reachable, the catalogue loaded, a model active and loaded in this
    process (when the active version cannot be loaded, the one served instead is named)."""
    svc = services()
    ready, checks = readiness(svc.redis, svc.store.n_movies, svc.models.store.active_version)
    if ready:
        served = svc.models.get()
        if svc.models.load_error:
            checks["model"] = (f"{svc.models.load_error}; serving "
                               f"{served.version if served else 'no model'} instead")
        ready = served is not None
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503
