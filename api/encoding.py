"""JSON out, through orjson.

A computed recommendation list is encoded on every cache miss, the normal case for an active
user; orjson encodes one in a tenth of the standard library's time (docs/topn-benchmark.md).
Every other body goes through the same encoder, Flask's ``jsonify`` included. JSON in is still
read by Flask's default (the standard library), whose errors the event validation explains.
"""
from __future__ import annotations

import json

import orjson
from flask.json.provider import DefaultJSONProvider

# Keys that are not strings (movie ids in a manifest) become strings, as the stdlib does.
_OPTIONS = orjson.OPT_NON_STR_KEYS


def encode(value) -> bytes:
    """``value`` as compact UTF-8 JSON, keys in insertion order. Text orjson refuses (a lone
    surrogate, which an error message may quote back) goes through the standard library, which
    escapes it."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


class FastJSONProvider(DefaultJSONProvider):
    def dumps(self, obj, **kwargs) -> str:
        if kwargs.get("indent"):  # debug mode's pretty printing
            return super().dumps(obj, **kwargs)
        return encode(obj).decode()

    def response(self, *args, **kwargs):
        if self._app.debug:
            return super().response(*args, **kwargs)
        body = encode(self._prepare_response_obj(args, kwargs)) + b"\n"
        return self._app.response_class(body, mimetype=self.mimetype)
