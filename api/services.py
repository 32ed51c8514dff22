"""Access to the per-app :class:`api.app.Services` from inside a request."""
from __future__ import annotations

from flask import current_app


def services():
    return current_app.extensions["movierec"]
