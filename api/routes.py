"""Every route of the API by Flask endpoint name: who may call it (an access level of
:mod:`api.auth`) and whether it counts against the rate limits (:mod:`api.limits`).

The request hooks (:mod:`api.hooks`) and the OpenAPI document (:mod:`api.openapi`) both read
this one table, so a new route is declared here once. A route missing from it needs an admin
key and is rate limited: it cannot be open by mistake.
"""
from __future__ import annotations

from typing import NamedTuple

from api.auth import ADMIN, OPEN, PRIVATE, READ, WRITE


class Route(NamedTuple):
    """A route's access level and whether its requests count against the rate limits."""
    access: int
    limited: bool = True


ROUTES: dict[str | None, Route] = {
    None: Route(OPEN),  # a URL that names no route: its 404 or 405 is anyone's
    "static": Route(OPEN, limited=False),
    "health.healthz": Route(OPEN, limited=False),
    "health.readyz": Route(OPEN, limited=False),
    "metrics.metrics": Route(OPEN, limited=False),
    "openapi.document": Route(OPEN, limited=False),
    "users.recommendations": Route(READ),
    "users.rows": Route(READ),
    "users.predictions": Route(READ),
    "guests.guest_recommendations": Route(READ),
    "movies.search": Route(READ),
    "movies.popular_movies": Route(READ),
    "movies.trending_movies": Route(READ),
    "movies.get_movie": Route(READ),
    "movies.similar": Route(READ),
    "models.list_models": Route(READ),
    "models.show_model": Route(READ),
    "users.profile": Route(PRIVATE),
    "events.post_events": Route(WRITE),
    "users.delete_user": Route(WRITE),
    "users.delete_rating": Route(WRITE),
    "movies.put_movie": Route(ADMIN),
    "models.retrain": Route(ADMIN),
    "models.activate": Route(ADMIN),
    "models.job": Route(ADMIN),
}
UNDECLARED = Route(ADMIN)
