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
    process (when the active version cannot be loaded, the one served instead is named), a
    worker alive to apply events, and none of them waiting longer than MOVIEREC_MAX_INBOX_AGE."""
    svc = services()
    ready, checks = readiness(svc.redis, svc.catalogue.n_movies, svc.models.store.active_version)
    if ready:
        served = svc.models.get()
        if svc.models.load_error:
            checks["model"] = (f"{svc.models.load_error}; serving "
                               f"{served.version if served else 'no model'} instead")
        workers = len(svc.operations.live_workers())
        checks["workers"] = (f"{workers} alive" if workers else
                             "no worker alive: events are accepted but not applied "
                             "(start `movierec worker`)")
        waited, limit = svc.inbox.oldest_waiting_seconds(), svc.settings.max_inbox_age
        checks["inbox"] = (f"{svc.inbox.length()} events waiting, the oldest for "
                           f"{waited:.1f} s" + (f" (over the {limit:g} s allowed)"
                                                if waited > limit else ""))
        ready = served is not None and workers > 0 and waited <= limit
    return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503
