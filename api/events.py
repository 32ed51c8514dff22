"""``POST /v1/events``: validate the whole request, then hand it to Redis in one step."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from api.metrics import EVENTS_ACCEPTED, EVENTS_REJECTED
from api.services import services
from shared.data.events import EventError, validate_events
from shared.store.queue import enqueue_drain

bp = Blueprint("events", __name__, url_prefix="/v1")


def bad_request(field: str, reason: str, index: int | None = None):
    return jsonify(error="invalid_event", **EventError(field, reason, index).as_dict()), 400


@bp.post("/events")
def post_events():
    """Accept one event or an array of up to 1,000; 202 once Redis holds them."""
    if not request.is_json:
        return bad_request("body", "must be JSON with Content-Type: application/json")
    payload = request.get_json(silent=True)
    if payload is None:
        return bad_request("body", "is not valid JSON")
    svc = services()
    try:
        events = validate_events(payload, now=time.time(), max_skew=svc.settings.max_clock_skew)
    except EventError as exc:
        EVENTS_REJECTED.inc()
        return jsonify(error="invalid_event", **exc.as_dict()), 400
    for lane in svc.push_events(events):
        enqueue_drain(svc.queue, lane)
    EVENTS_ACCEPTED.inc(len(events))
    return current_app.response_class(b'{"accepted":%d}' % len(events), status=202,
                                      mimetype="application/json")
