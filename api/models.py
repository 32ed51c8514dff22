"""``/v1/models`` (the stored versions) and ``/v1/admin`` (retrains, rollbacks, their jobs)."""
from __future__ import annotations

import re

from flask import Blueprint, jsonify, url_for

from api.services import services
from shared.store.queue import enqueue_activation, enqueue_retrain, job_status

bp = Blueprint("models", __name__, url_prefix="/v1")
VERSION = re.compile(r"[0-9A-Za-z._-]{1,64}")
JOB_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def _version_row(store, version: str, active: str | None, states: dict,
                 rebuilding: str | None) -> dict:
    manifest = store.manifest(version) or {}
    state = "rebuilding" if version == rebuilding else states.get(version, "published")
    return {"version": version, "active": version == active, "state": state,
            "trained_at": manifest.get("trained_at"), "data": manifest.get("data"),
            "holdout": manifest.get("holdout"), "gate": manifest.get("gate")}


def _unknown_version(version: str):
    return jsonify(error="not_found", field="version", reason=f"no model version {version}"), 404


@bp.get("/models")
def list_models():
    store = services().models.store
    active, states, rebuilding = store.active_version(), store.states(), store.rebuilding_version()
    return jsonify(active=active, versions=[_version_row(store, v, active, states, rebuilding)
                                            for v in reversed(store.versions())])


@bp.get("/models/<version>")
def show_model(version: str):
    store = services().models.store
    if not VERSION.fullmatch(version) or version not in store.versions():
        return _unknown_version(version)
    active, states, rebuilding = store.active_version(), store.states(), store.rebuilding_version()
    return jsonify(**_version_row(store, version, active, states, rebuilding),
                   manifest=store.manifest(version))


@bp.post("/admin/retrain")
def retrain():
    """Enqueue a retrain (``movierec worker --retrains`` runs it); 202 with its job."""
    svc = services()
    job = enqueue_retrain(svc.retrain_queue, "asked over HTTP")
    return _accepted(job.id)


@bp.post("/admin/models/<version>/activate")
def activate(version: str):
    """Enqueue a rollback to a kept version (it serves at once, its counters rebuilt behind)."""
    svc = services()
    store = svc.models.store
    if not VERSION.fullmatch(version) or version not in store.versions():
        return _unknown_version(version)
    return _accepted(enqueue_activation(svc.retrain_queue, version).id)


@bp.get("/admin/jobs/<job_id>")
def job(job_id: str):
    svc = services()
    status = job_status(svc.retrain_queue, job_id) if JOB_ID.fullmatch(job_id) else None
    if status is None:
        return jsonify(error="not_found", field="job_id", reason=f"no retrain job {job_id}"), 404
    return jsonify(status)


def _accepted(job_id: str):
    return jsonify(job_id=job_id, status_url=url_for("models.job", job_id=job_id)), 202
