"""``GET /openapi.json``: the OpenAPI 3.1 document of every route."""
from __future__ import annotations

from flask import Blueprint, jsonify

from shared.data.events import (EVENT_TYPES, MAX_CLOCK_SKEW, MAX_EVENT_ID_LENGTH,
                                MAX_EVENTS_PER_REQUEST, MAX_ID)
from shared.recsys.ratings import RATING_MAX, RATING_MIN, RATING_STEP
from shared.recsys.strategies import DEFAULT_STRATEGY, STRATEGIES

bp = Blueprint("openapi", __name__)


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path_id(name):
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1}}


def _query(name, schema, description, required=False):
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


N = _query("n", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, "how many")
BAD = _json(_ref("Error"), "invalid parameter, naming the field and the reason")
NOT_FOUND = _json(_ref("Error"), "unknown id")
NO_MODEL = _json(_ref("Error"), "no model trained yet")
UNAUTHORIZED = _json(_ref("Error"), "missing or wrong admin key")
ADMIN_KEY = {"name": "X-Admin-Key", "in": "header", "required": True, "schema": {"type": "string"}}
VERSION_PARAMETER = {"name": "version", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": "^[0-9A-Za-z._-]{1,64}$"}}
JOB_ACCEPTED = _json({"type": "object", "properties": {"job_id": {"type": "string"},
                                                        "status_url": {"type": "string"}}},
                     "enqueued: follow status_url")

# What shared.data.events.validate_event accepts, from its own bounds: an absent field and an
# explicit null are the same; rating is required on rating events, absent or null on the others.
POSITIVE_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
EVENT = {
    "type": "object", "required": ["type", "user_id", "movie_id"], "additionalProperties": False,
    "properties": {
        "type": {"enum": list(EVENT_TYPES)},
        "user_id": POSITIVE_ID,
        "movie_id": POSITIVE_ID,
        "rating": {"type": ["number", "null"], "minimum": RATING_MIN, "maximum": RATING_MAX,
                   "multipleOf": RATING_STEP,
                   "description": "required for rating events, absent or null on the others"},
        "ts": {"type": ["number", "null"], "minimum": 0,
               "description": "seconds since 1970, at most MOVIEREC_MAX_CLOCK_SKEW (default "
                              f"{MAX_CLOCK_SKEW:g}) seconds ahead of the server's clock; "
                              "default: receipt"},
        "event_id": {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_EVENT_ID_LENGTH,
                     "description": "an id seen before is not applied again"},
    },
    "if": {"required": ["type"], "properties": {"type": {"const": "rating"}}},
    "then": {"required": ["rating"], "properties": {"rating": {"type": "number"}}},
    "else": {"properties": {"rating": {"type": "null"}}},
}
ITEM = {"type": "object", "properties": {
    "movie_id": {"type": "integer"}, "title": {"type": ["string", "null"]},
    "genres": {"type": "array", "items": {"type": "string"}}, "score": {"type": "number"},
    "reason": {"type": "string"},
    "because": {"type": "object", "description": "the rated movie the reason names",
                "properties": {"movie_id": {"type": "integer"}, "title": {"type": "string"},
                               "rating": {"type": "number"}}}}}
MOVIE = {"type": "object", "properties": {
    "movie_id": {"type": "integer"}, "title": {"type": "string"},
    "year": {"type": ["integer", "null"]},
    "genres": {"type": "array", "items": {"type": "string"}},
    "tags": {"type": "array", "items": {"type": "string"}},
    "n_ratings": {"type": "integer"}, "mean_rating": {"type": ["number", "null"]},
    "n_favourites": {"type": "integer"}}}
ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "field": {"type": "string"}, "reason": {"type": "string"},
    "index": {"type": "integer"}, "message": {"type": "string"}}}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "movierec", "version": "1",
             "description": "Event-driven online movie recommender."},
    "paths": {
        "/healthz": {"get": {"summary": "the process is up", "responses": {"200": _json({"type": "object"})}}},
        "/readyz": {"get": {"summary": "Redis reachable, data loaded, a model active",
                            "responses": {"200": _json({"type": "object"}),
                                          "503": _json({"type": "object"}, "not ready")}}},
        "/metrics": {"get": {"summary": "Prometheus text format: requests and latency by endpoint "
                                        "and status, events accepted, applied, rejected, "
                                        "dead-lettered, the inbox, the active model",
                             "responses": {"200": {"description": "OK", "content": {
                                 "text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "this document", "responses": {"200": _json({"type": "object"})}}},
        "/v1/events": {"post": {
            "summary": f"one event or an array of up to {MAX_EVENTS_PER_REQUEST}; all or nothing",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "oneOf": [_ref("Event"), {"type": "array", "items": _ref("Event"), "minItems": 1,
                                          "maxItems": MAX_EVENTS_PER_REQUEST}]}}}},
            "responses": {"202": _json({"type": "object", "properties": {
                "accepted": {"type": "integer"}}}, "held by Redis, to be applied by the workers"),
                "400": _json(_ref("Error"), "an invalid event: index, field, reason"),
                "413": _json(_ref("Error"), "body over 1 MiB")}}},
        "/v1/users/{user_id}": {
            "get": {"summary": "cluster, number of ratings, last events",
                    "parameters": [_path_id("user_id")],
                    "responses": {"200": _json({"type": "object"}), "404": NOT_FOUND}},
            "delete": {"summary": "remove the user's ratings and their share of every counter",
                       "parameters": [_path_id("user_id")],
                       "responses": {"200": _json({"type": "object"})}}},
        "/v1/users/{user_id}/ratings/{movie_id}": {"delete": {
            "summary": "remove one rating", "parameters": [_path_id("user_id"), _path_id("movie_id")],
            "responses": {"200": _json({"type": "object"})}}},
        "/v1/users/{user_id}/recommendations": {"get": {
            "summary": "live recommendations; popular movies (flagged) without a cluster",
            "parameters": [_path_id("user_id"), N, _query(
                "strategy", {"enum": list(STRATEGIES), "default": DEFAULT_STRATEGY},
                "how to rank")],
            "responses": {"200": _json({"type": "object", "properties": {
                "user_id": {"type": "integer"}, "strategy": {"type": "string"},
                "model_version": {"type": ["string", "null"]}, "cluster": {"type": ["integer", "null"]},
                "fallback": {"type": ["string", "null"]},
                "items": {"type": "array", "items": _ref("Item")}}}), "400": BAD}}},
        "/v1/users/{user_id}/predictions": {"get": {
            "summary": "predicted ratings",
            "parameters": [_path_id("user_id"), {
                "name": "movie_id", "in": "query", "required": True, "explode": True,
                "schema": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 100}}],
            "responses": {"200": _json({"type": "object"}), "400": BAD, "503": NO_MODEL}}},
        "/v1/movies": {"get": {
            "summary": "title search",
            "parameters": [_query("q", {"type": "string", "minLength": 1, "maxLength": 200},
                                  "words of the title", required=True),
                           _query("limit", {"type": "integer", "minimum": 1, "maximum": 100,
                                            "default": 20}, "how many")],
            "responses": {"200": _json({"type": "object"}), "400": BAD}}},
        "/v1/movies/popular": {"get": {"summary": "the most favoured movies", "parameters": [N],
                                       "responses": {"200": _json({"type": "object"}), "400": BAD}}},
        "/v1/movies/{movie_id}": {
            "get": {"summary": "a movie and its counts", "parameters": [_path_id("movie_id")],
                    "responses": {"200": _json(_ref("Movie")), "404": NOT_FOUND}},
            "put": {"summary": "create or replace title, year, genres, tags (admin key)",
                    "parameters": [_path_id("movie_id"),
                                   {"name": "X-Admin-Key", "in": "header", "required": True,
                                    "schema": {"type": "string"}}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["title"], "properties": {
                            "title": {"type": "string"}, "year": {"type": ["integer", "null"]},
                            "genres": {"type": "array", "items": {"type": "string"}},
                            "tags": {"type": "array", "items": {"type": "string"}}}}}}},
                    "responses": {"200": _json(_ref("Movie")), "201": _json(_ref("Movie"), "created"),
                                  "400": BAD, "401": _json(_ref("Error"), "missing or wrong admin key")}}},
        "/v1/movies/{movie_id}/similar": {"get": {
            "summary": "similar movies (seed 004)",
            "parameters": [_path_id("movie_id"), N, _query(
                "kind", {"enum": ["hybrid", "collaborative", "content"], "default": "hybrid"},
                "which similarity")],
            "responses": {"200": _json({"type": "object", "properties": {
                "items": {"type": "array", "items": _ref("Item")}}}), "400": BAD,
                "404": NOT_FOUND, "503": NO_MODEL}}},
        "/v1/models": {"get": {
            "summary": "the stored model versions, newest first: state, data, held-out numbers, gate",
            "responses": {"200": _json({"type": "object"})}}},
        "/v1/models/{version}": {"get": {
            "summary": "one version with its manifest (parameters, metrics, stage timings)",
            "parameters": [VERSION_PARAMETER],
            "responses": {"200": _json({"type": "object"}), "404": NOT_FOUND}}},
        "/v1/admin/retrain": {"post": {
            "summary": "enqueue a retrain (admin key); `movierec worker --retrains` runs it",
            "parameters": [ADMIN_KEY],
            "responses": {"202": JOB_ACCEPTED, "401": UNAUTHORIZED}}},
        "/v1/admin/models/{version}/activate": {"post": {
            "summary": "enqueue a rollback to a kept version, its counters rebuilt (admin key)",
            "parameters": [VERSION_PARAMETER, ADMIN_KEY],
            "responses": {"202": JOB_ACCEPTED, "401": UNAUTHORIZED, "404": NOT_FOUND}}},
        "/v1/admin/jobs/{job_id}": {"get": {
            "summary": "a retrain or rollback job: status, stage, result or error (admin key)",
            "parameters": [{"name": "job_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}, ADMIN_KEY],
            "responses": {"200": _json({"type": "object"}), "401": UNAUTHORIZED,
                          "404": NOT_FOUND}}},
    },
    "components": {"schemas": {"Event": EVENT, "Item": ITEM, "Movie": MOVIE, "Error": ERROR}},
}


@bp.get("/openapi.json")
def document():
    return jsonify(DOCUMENT)
