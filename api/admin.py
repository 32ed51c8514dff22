"""The admin key: what changes the catalogue or the served model asks for it."""
from __future__ import annotations

import hmac

from flask import jsonify, request

ADMIN_HEADER = "X-Admin-Key"


def refused(svc):
    """None when the request carries the admin key; else the 401 response to return."""
    given = request.headers.get(ADMIN_HEADER, "")
    if hmac.compare_digest(given.encode(), svc.settings.admin_key.encode()):
        return None
    return jsonify(error="unauthorized", field=ADMIN_HEADER, reason="missing or wrong admin key"), 401
