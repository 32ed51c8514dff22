"""Who may call what: API keys of three kinds in header ``X-API-Key``.

A read key may read, a write key may also post events and delete users, an admin key may do
everything. Reads are open while no read key is configured, except a user's profile (their last
events), which always needs a key. The access levels are here, with the check; which route
needs which is declared in :data:`api.routes.ROUTES`.
"""
from __future__ import annotations

import hashlib
import hmac
from enum import IntEnum
from typing import NamedTuple

from flask import jsonify

from shared.config import Settings

HEADER = "X-API-Key"
ENVIRON_KEY = "HTTP_X_API_KEY"  # the header as WSGI hands it over


class Kind(IntEnum):
    """A key's kind; each includes the rights of the ones below it."""
    READ = 1
    WRITE = 2
    ADMIN = 3


# A route's access level: what a caller needs to call it.
OPEN = 0      # no key needed
READ = 1      # open without read keys configured; with them, any key
PRIVATE = 4   # any key, always
WRITE = Kind.WRITE  # a key of this kind or above
ADMIN = Kind.ADMIN


class Caller(NamedTuple):
    """Who sent a request: their key's kind and id (None and None without a valid key), and
    whether they sent a key at all."""
    kind: Kind | None
    key_id: str | None
    sent_key: bool


NO_KEY = Caller(None, None, False)


class Keyring:
    """The configured keys; :meth:`identify` compares a given key with every one of them in
    constant time, so the answer's timing tells nothing about how much of a key was right."""

    def __init__(self, settings: Settings):
        kinds: dict[str, Kind] = {}
        for kind, keys in ((Kind.READ, settings.read_keys), (Kind.WRITE, settings.write_keys),
                           (Kind.ADMIN, settings.admin_keys)):
            for key in keys:
                kinds[key] = max(kind, kinds.get(key, kind))
        # the id names a key in rate limits and logs without revealing it
        self._keys = [(key.encode(), kind, hashlib.sha256(key.encode()).hexdigest()[:12])
                      for key, kind in kinds.items()]
        self.reads_open = not settings.read_keys

    def identify(self, given: str) -> tuple[Kind | None, str | None]:
        """The kind and id of the key ``given``; (None, None) for no configured key."""
        given_bytes, found = given.encode(), (None, None)
        for key, kind, key_id in self._keys:
            if hmac.compare_digest(given_bytes, key):
                found = (kind, key_id)
        return found

    def caller(self, environ: dict) -> Caller:
        """Who sent the request of this WSGI ``environ``."""
        given = environ.get(ENVIRON_KEY)
        return Caller(*self.identify(given), True) if given else NO_KEY

    def check(self, required: int, caller: Caller):
        """None to go on, or the 401/403 answer to ``caller`` on a route of access level
        ``required`` (a step of :class:`api.hooks.RequestHooks`)."""
        if required == OPEN:
            return None
        kind = caller.kind
        if kind is None and caller.sent_key:
            return _refuse(401, "unauthorized", "unknown key")
        if required == READ and self.reads_open:
            return None
        if kind is None:
            return _refuse(401, "unauthorized", "this needs a key: send it in header X-API-Key")
        if required in (READ, PRIVATE) or kind >= required:
            return None
        return _refuse(403, "forbidden", f"a {kind.name.lower()} key may not do this; it needs "
                                         f"a{'n' if required == ADMIN else ''} "
                                         f"{Kind(required).name.lower()} key")


def _refuse(status: int, error: str, reason: str):
    return jsonify(error=error, field=HEADER, reason=reason), status
