"""The movierec HTTP API: a Flask application factory with one blueprint per resource."""
from __future__ import annotations

from api.app import create_app

__all__ = ["create_app"]
