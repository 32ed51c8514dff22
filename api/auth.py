"""Who may call what: API keys of three kinds in header ``X-API-Key``.

A read key may read, a write key may also post events and delete users, an admin key may do
everything. Reads are open while no read key is configured, except a user's profile (their last
events), which always needs a key. Every route is in :data:`ACCESS`: a route missing from it is
refused, so a new route cannot be open by mistake.
"""
from __future__ import annotations

import hashlib
import hmac
from enum import IntEnum

from flask import g, jsonify, request

from shared.config import Settings

HEADER = "X-API-Key"


class Kind(IntEnum):
    """A key's kind; each includes the rights of the ones below it."""
    READ = 1
    WRITE = 2
    ADMIN = 3


OPEN = 0      # no key needed
READ = 1      # open without read keys configured; with them, any key
PRIVATE = 4   # any key, always
WRITE = Kind.WRITE
ADMIN = Kind.ADMIN

ACCESS = {
    "static": OPEN,
    "health.healthz": OPEN,
    "health.readyz": OPEN,
    "metrics.metrics": OPEN,
    "openapi.document": OPEN,
    "users.recommendations": READ,
    "users.predictions": READ,
    "movies.search": READ,
    "movies.popular_movies": READ,
    "movies.get_movie": READ,
    "movies.similar": READ,
    "models.list_models": READ,
    "models.show_model": READ,
    "users.profile": PRIVATE,
    "events.post_events": WRITE,
    "users.delete_user": WRITE,
    "users.delete_rating": WRITE,
    "movies.put_movie": ADMIN,
    "models.retrain": ADMIN,
    "models.activate": ADMIN,
    "models.job": ADMIN,
}


class Keyring:
    """The configured keys; :meth:`kind_of` compares a given key with every one of them in
    constant time, so the answer's timing tells nothing about how much of a key was right."""

    def __init__(self, settings: Settings):
        self._keys = [(key.encode(), kind)
                      for kind, keys in ((Kind.READ, settings.read_keys),
                                         (Kind.WRITE, settings.write_keys),
                                         (Kind.ADMIN, settings.admin_keys))
                      for key in keys]
        self.reads_open = not settings.read_keys

    def kind_of(self, given: str) -> Kind | None:
        given_bytes = given.encode()
        found = None
        for key, kind in self._keys:
            if hmac.compare_digest(given_bytes, key):
                found = kind if found is None else max(found, kind)
        return found


def caller() -> tuple[Kind | None, str | None]:
    """The request's key kind and an id naming the key without revealing it (for rate limits
    and logs); (None, None) without a valid key. Looked up once per request."""
    if "api_key" not in g:
        given = request.headers.get(HEADER, "")
        kind = _keyring().kind_of(given) if given else None
        key_id = hashlib.sha256(given.encode()).hexdigest()[:12] if kind is not None else None
        g.api_key = (kind, key_id)
    return g.api_key


def check():
    """before_request: None to go on, or the 401/403 answer."""
    required = ACCESS.get(request.endpoint or "", ADMIN if request.endpoint else OPEN)
    if required == OPEN:
        return None
    given = bool(request.headers.get(HEADER))
    kind, _ = caller()
    if given and kind is None:
        return _refuse(401, "unauthorized", "unknown key")
    if required == READ and _keyring().reads_open:
        return None
    if kind is None:
        return _refuse(401, "unauthorized", "this needs a key: send it in header X-API-Key")
    if required in (READ, PRIVATE) or kind >= required:
        return None
    return _refuse(403, "forbidden", f"a {kind.name.lower()} key may not do this; it needs "
                                     f"a{'n' if required == ADMIN else ''} "
                                     f"{Kind(required).name.lower()} key")


def _keyring() -> Keyring:
    from api.services import services

    return services().keyring


def _refuse(status: int, error: str, reason: str):
    return jsonify(error=error, field=HEADER, reason=reason), status
