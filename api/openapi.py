"""``GET /openapi.json``: the OpenAPI 3.1 document of every route; who may call each and
whether it is rate limited come from :data:`api.routes.ROUTES`."""
from __future__ import annotations

from flask import Blueprint, jsonify

from api.auth import ADMIN, OPEN, PRIVATE, READ, WRITE
from api.guests import MAX_GUEST_RATINGS
from api.params import MAX_DEPTH, MAX_EXCLUDED, MAX_GENRES, YEARS
from api.routes import ROUTES
from shared.data.events import (
    EVENT_TYPES,
    MAX_CLOCK_SKEW,
    MAX_EVENT_ID_LENGTH,
    MAX_EVENTS_PER_REQUEST,
    MAX_ID,
)
from shared.recsys.diversity import DIVERSITY_POOL
from shared.recsys.ratings import RATING_MAX, RATING_MIN, RATING_STEP
from shared.recsys.strategies import DEFAULT_STRATEGY, STRATEGIES
from shared.store.counters import TRENDING_WINDOWS

bp = Blueprint("openapi", __name__)


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path_id(name):
    return {"name": name, "in": "path", "required": True,
            "schema": POSITIVE_ID}


def _query(name, schema, description, required=False):
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


N = _query("n", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, "how many")
VERSION_PARAMETER = {"name": "version", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": "^[0-9A-Za-z._-]{1,64}$"}}

# Who may call an operation (the ApiKey scheme, header X-API-Key), by its access level: a READ
# operation is open unless MOVIEREC_READ_KEYS is set, so it may be called with a key or without.
ANY_KEY = [{"ApiKey": []}]
SECURITY = {OPEN: [], READ: [{}, {"ApiKey": []}], PRIVATE: ANY_KEY, WRITE: ANY_KEY,
            ADMIN: ANY_KEY}
API_KEY = {"type": "apiKey", "in": "header", "name": "X-API-Key",
           "description": "a key from MOVIEREC_READ_KEYS, MOVIEREC_WRITE_KEYS or "
                          "MOVIEREC_ADMIN_KEYS (comma-separated): reads need one only when read "
                          "keys are set, a user's profile any key, events and deletions a write "
                          "key, movie edits and /v1/admin an admin key"}
RETRY_AFTER = {"Retry-After": {"required": True, "description": "seconds to wait before retrying",
                               "schema": {"type": "integer", "minimum": 0}}}


def _response(name):
    return {"$ref": f"#/components/responses/{name}"}


def _key_error(error):
    return {"type": "object", "required": ["error", "field", "reason"], "properties": {
        "error": {"const": error}, "field": {"const": "X-API-Key"},
        "reason": {"type": "string"}}}


def _message_error(error):
    return {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"const": error}, "message": {"type": "string"}}}


RESPONSES = {
    "BadParameter": _json(_ref("Error"), "invalid parameter, naming the field and the reason"),
    "NotFound": _json(_ref("Error"), "unknown id, or a path that names nothing"),
    "NoModel": _json(_ref("Error"), "no model trained yet (no_model), or Redis is not "
                                    "reachable (unavailable, with Retry-After)"),
    "Unauthorized": _json(_key_error("unauthorized"), "no key, or one that is not configured"),
    "Forbidden": _json(_key_error("forbidden"), "a key of a kind that may not do this"),
    "RateLimited": {**_json(_message_error("rate_limited"),
                            "too many requests for this key or client address"),
                    "headers": RETRY_AFTER},
    "Unavailable": {**_json(_message_error("unavailable"), "Redis is not reachable"),
                    "headers": RETRY_AFTER},
    "StorageFull": _json(_message_error("storage_full"),
                         "Redis refuses writes (out of memory); nothing of the request was stored"),
    "TooLarge": _json(_ref("Error"), "body over 1 MiB"),
}
# What an operation may answer besides its own: the key's refusals, the rate limit's, an
# unreachable Redis; operations that write can also meet a full one.
REFUSALS = {
    OPEN: {},
    READ: {"401": _response("Unauthorized")},
    PRIVATE: {"401": _response("Unauthorized")},
    WRITE: {"401": _response("Unauthorized"), "403": _response("Forbidden")},
    ADMIN: {"401": _response("Unauthorized"), "403": _response("Forbidden")},
}
KEY_NEEDED = {PRIVATE: " (any key)", WRITE: " (write key)", ADMIN: " (admin key)"}


def _operation(endpoint, summary, responses, parameters=(), writes=False, redis=True, **extra):
    """The operation of the Flask ``endpoint``, its access and rate limit as :data:`ROUTES`
    declares them; ``redis``: reads or writes Redis; ``writes``: writes it."""
    access, limited = ROUTES[endpoint]
    summary += KEY_NEEDED.get(access, "")
    answers = {**responses, **REFUSALS[access]}
    if limited:
        answers["429"] = _response("RateLimited")
    if redis:
        answers.setdefault("503", _response("Unavailable"))
    if writes:
        answers["507"] = _response("StorageFull")
    if any(p["in"] in ("path", "query") for p in parameters):
        answers.setdefault("400", _response("BadParameter"))
    if any(p["in"] == "path" for p in parameters):
        answers.setdefault("404", _response("NotFound"))
    body = {"summary": summary, "security": SECURITY[access], "responses": answers}
    if parameters:
        body["parameters"] = list(parameters)
    return {**body, **extra}


JOB_ACCEPTED = _json({"type": "object", "required": ["job_id", "status_url"], "properties": {
    "job_id": {"type": "string"}, "status_url": {"type": "string"}}},
    "enqueued: follow status_url")

# What shared.data.events.validate_event accepts, from its own bounds: an absent field and an
# explicit null are the same; rating is required on rating events, absent or null on the others.
POSITIVE_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# A list's pages and filters (api.params.page_args, list_filter): filtering happens before the
# list is cut to n, and a page is the offset + n best cut to its last n.
LIST_PARAMETERS = [
    N,
    _query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_DEPTH - 1, "default": 0},
           f"how many to skip: page k of size n is offset=(k - 1) * n; offset + n at most "
           f"{MAX_DEPTH}"),
    {**_query("genre", {"type": "array", "maxItems": MAX_GENRES,
                        "items": {"type": "string", "minLength": 1, "maxLength": 100}},
              "only movies of any of these genres (repeatable; any case; a genre some movie "
              "has)"), "explode": True},
    _query("year_min", {"type": "integer", "minimum": YEARS[0], "maximum": YEARS[1]},
           "only movies released in this year or later"),
    _query("year_max", {"type": "integer", "minimum": YEARS[0], "maximum": YEARS[1]},
           "only movies released in this year or earlier (not before year_min)"),
    {**_query("exclude", {"type": "array", "maxItems": MAX_EXCLUDED, "items": POSITIVE_ID},
              f"movie ids never to name (repeatable, or comma-separated; up to {MAX_EXCLUDED})"),
     "explode": True},
]
# a user's or a guest's list (api.params.diversity_arg, shared.recsys.diversity)
DIVERSITY = _query("diversity", {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
                   f"0 (as ranked) to 1: how much the list trades score for genres unlike "
                   f"those above it, chosen from the best max(n, {DIVERSITY_POOL}) "
                   f"(maximal marginal relevance)")
OFFSET = {"offset": {"type": "integer", "minimum": 0}}
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
ITEM = {"type": "object", "required": ["movie_id", "title", "genres", "score", "reason"],
        "properties": {
    "movie_id": {"type": "integer"}, "title": {"type": ["string", "null"]},
    "genres": {"type": "array", "items": {"type": "string"}}, "score": {"type": "number"},
    "reason": {"type": "string"},
    "because": {"type": "object", "description": "the rated movie the reason names",
                "required": ["movie_id", "title", "rating"],
                "properties": {"movie_id": {"type": "integer"}, "title": {"type": "string"},
                               "rating": {"type": "number"}}}}}
CATALOGUE_ENTRY = {"title": {"type": "string"}, "year": {"type": ["integer", "null"]},
                   "genres": {"type": "array", "items": {"type": "string"}},
                   "tags": {"type": "array", "items": {"type": "string"}}}
MOVIE = {"type": "object", "required": ["movie_id", "title", "n_ratings", "mean_rating",
                                        "n_favourites"], "properties": {
    "movie_id": {"type": "integer"}, **CATALOGUE_ENTRY,
    "n_ratings": {"type": "integer"}, "mean_rating": {"type": ["number", "null"]},
    "n_favourites": {"type": "integer"}}}
MOVIE_EDIT = {"type": "object", "required": ["title"], "additionalProperties": False,
              "properties": {
    "title": {"type": "string", "minLength": 1, "maxLength": 500, "pattern": r"\S"},
    "year": {"type": ["integer", "null"], "minimum": 1870, "maximum": 2100},
    "genres": {"type": "array", "maxItems": 100,
               "items": {"type": "string", "minLength": 1, "maxLength": 100}},
    "tags": {"type": "array", "maxItems": 100,
             "items": {"type": "string", "minLength": 1, "maxLength": 100}}}}
ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "field": {"type": "string"}, "reason": {"type": "string"},
    "index": {"type": "integer"}, "message": {"type": "string"}}}
ITEMS = {"type": "array", "items": _ref("Item")}
VERSION_ROW = {"type": "object", "required": ["version", "active", "state"], "properties": {
    "version": {"type": "string"}, "active": {"type": "boolean"},
    "state": {"type": "string", "enum": ["building", "published", "rejected", "rebuilding"],
              "description": "rebuilding: the active version after a rollback, serving while "
                             "its cluster counters are rebuilt"},
    "trained_at": {"type": ["number", "null"]}, "data": {}, "holdout": {}, "gate": {}}}
OBJECT = {"type": "object"}
USER_ID = _path_id("user_id")
MOVIE_ID = _path_id("movie_id")

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "movierec", "version": "1",
             "description": "Event-driven online movie recommender."},
    "paths": {
        "/healthz": {"get": _operation(
            "health.healthz", "the process is up", {"200": _json(OBJECT)}, redis=False)},
        "/readyz": {"get": _operation(
            "health.readyz",
            "Redis reachable, data loaded, a model active, a worker alive, no event "
            "waiting longer than MOVIEREC_MAX_INBOX_AGE",
            {"200": _json(OBJECT), "503": _json(OBJECT, "not ready")})},
        "/metrics": {"get": _operation(
            "metrics.metrics",
            "Prometheus text format: requests and latency by endpoint and status, events "
            "accepted, applied, rejected, dead-lettered, the inbox, the active model",
            {"200": {"description": "OK",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}})},
        "/openapi.json": {"get": _operation(
            "openapi.document", "this document", {"200": _json(OBJECT)}, redis=False)},
        "/v1/events": {"post": _operation(
            "events.post_events",
            f"one event or an array of up to {MAX_EVENTS_PER_REQUEST}; all or nothing",
            {"202": _json({"type": "object", "required": ["accepted"], "properties": {
                "accepted": {"type": "integer", "minimum": 1}}},
                "held by Redis, to be applied by the workers"),
             "400": _json(_ref("Error"), "an invalid event: index, field, reason"),
             "413": _response("TooLarge")},
            writes=True,
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "oneOf": [_ref("Event"), {"type": "array", "items": _ref("Event"), "minItems": 1,
                                          "maxItems": MAX_EVENTS_PER_REQUEST}]}}}})},
        "/v1/users/{user_id}": {
            "get": _operation("users.profile", "cluster, number of ratings, last events", {
                "200": _json({"type": "object", "required": [
                    "user_id", "model_version", "cluster", "n_ratings", "n_favourites",
                    "last_events"], "properties": {
                    "user_id": {"type": "integer"}, "model_version": {"type": ["string", "null"]},
                    "cluster": {"type": ["integer", "null"]}, "n_ratings": {"type": "integer"},
                    "n_favourites": {"type": "integer"},
                    "last_events": {"type": "array", "items": {
                        "type": "object", "required": ["type", "movie_id", "ts"], "properties": {
                            "type": {"type": "string"}, "movie_id": {"type": "integer"},
                            "ts": {"type": "number"}, "rating": {"type": "number"}}}}}}),
                "404": _json(_ref("Error"), "no such user")}, [USER_ID]),
            "delete": _operation(
                "users.delete_user", "remove the user's ratings and their share of every counter",
                {"200": _json({"type": "object", "required": ["user_id", "removed"], "properties": {
                    "user_id": {"type": "integer"}, "removed": {"type": "integer"}}})},
                [USER_ID], writes=True)},
        "/v1/users/{user_id}/ratings/{movie_id}": {"delete": _operation(
            "users.delete_rating", "remove one rating",
            {"200": _json({"type": "object", "required": ["user_id", "movie_id", "removed"],
                           "properties": {"user_id": {"type": "integer"},
                                          "movie_id": {"type": "integer"},
                                          "removed": {"type": "boolean"}}})},
            [USER_ID, MOVIE_ID], writes=True)},
        "/v1/users/{user_id}/recommendations": {"get": _operation(
            "users.recommendations",
            "live recommendations; popular movies (flagged) without a cluster",
            {"200": _json({"type": "object", "required": [
                "user_id", "strategy", "model_version", "cluster", "fallback", "items"],
                "properties": {
                "user_id": {"type": "integer"}, "strategy": {"type": "string"},
                "model_version": {"type": ["string", "null"]},
                "cluster": {"type": ["integer", "null"]},
                "fallback": {"type": ["string", "null"]}, **OFFSET, "items": ITEMS}})},
            [USER_ID, *LIST_PARAMETERS, DIVERSITY,
             _query("strategy", {"enum": list(STRATEGIES), "default": DEFAULT_STRATEGY},
                    "how to rank")])},
        "/v1/recommendations": {"post": _operation(
            "guests.guest_recommendations",
            "the list for a guest, folded in from the ratings the request carries; nothing is "
            "stored",
            {"200": _json({"type": "object", "required": [
                "strategy", "model_version", "cluster", "fallback", "offset", "items"],
                "properties": {
                "strategy": {"type": "string"}, "model_version": {"type": ["string", "null"]},
                "cluster": {"type": ["integer", "null"]},
                "fallback": {"type": ["string", "null"]}, **OFFSET, "items": ITEMS}}),
             "400": _json(_ref("Error"), "an invalid parameter or rating: field and reason"),
             "413": _response("TooLarge")},
            [*LIST_PARAMETERS, DIVERSITY,
             _query("strategy", {"enum": list(STRATEGIES), "default": DEFAULT_STRATEGY},
                    "how to rank")],
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["ratings"], "additionalProperties": False,
                "properties": {"ratings": {
                    "type": "object", "maxProperties": MAX_GUEST_RATINGS,
                    "propertyNames": {"pattern": "^[0-9]{1,16}$"},
                    "additionalProperties": EVENT["properties"]["rating"] | {
                        "type": "number", "description": "a rating, as in a rating event"}}}}}}})},
        "/v1/users/{user_id}/rows": {"get": _operation(
            "users.rows",
            "a home screen: the personal row, rows of the user's top genres, a row of movies "
            "like each of their latest high ratings, what is trending (or popular), and what "
            "is trending among the movies the personal row cannot show yet (rising); no "
            "movie twice unless repeats=true",
            {"200": _json({"type": "object", "required": ["user_id", "model_version", "cluster",
                                                          "rows"], "properties": {
                "user_id": {"type": "integer"}, "model_version": {"type": ["string", "null"]},
                "cluster": {"type": ["integer", "null"]},
                "rows": {"type": "array", "items": {
                    "type": "object", "required": ["kind", "title", "reason", "items"],
                    "properties": {
                        "kind": {"enum": ["personal", "genre", "because", "trending",
                                          "popular", "rising"]},
                        "title": {"type": "string"}, "reason": {"type": "string"},
                        "genre": {"type": "string"}, "window": {"type": "string"},
                        "because": {"type": "object"}, "items": ITEMS}}}}})},
            [USER_ID,
             _query("n", {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
                    "movies per row"),
             _query("genre_rows", {"type": "integer", "minimum": 0, "maximum": 10, "default": 3},
                    "rows of the user's top genres"),
             _query("because_rows", {"type": "integer", "minimum": 0, "maximum": 10,
                                     "default": 2},
                    "rows of movies like the user's latest high ratings"),
             _query("repeats", {"enum": ["false", "true"], "default": "false"},
                    "whether a movie may show in more than one row")])},
        "/v1/users/{user_id}/predictions": {"get": _operation(
            "users.predictions", "predicted ratings",
            {"200": _json({"type": "object", "required": ["user_id", "model_version",
                                                          "predictions"], "properties": {
                "user_id": {"type": "integer"}, "model_version": {"type": "string"},
                "predictions": {"type": "array", "items": {
                    "type": "object", "required": ["movie_id", "rating"], "properties": {
                        "movie_id": {"type": "integer"},
                        "rating": {"type": ["number", "null"], "minimum": RATING_MIN,
                                   "maximum": RATING_MAX},
                        "reason": {"type": "string"}}}}}}),
             "503": _response("NoModel")},
            [USER_ID, {"name": "movie_id", "in": "query", "required": True, "explode": True,
                       "schema": {"type": "array", "minItems": 1, "maxItems": 100,
                                  "items": POSITIVE_ID}}])},
        "/v1/movies": {"get": _operation(
            "movies.search", "title search",
            {"200": _json({"type": "object", "required": ["query", "items"], "properties": {
                "query": {"type": "string"}, "items": {"type": "array", "items": {
                    "type": "object", "required": ["movie_id", "title"],
                    "properties": {"movie_id": {"type": "integer"}, **CATALOGUE_ENTRY}}}}})},
            [_query("q", {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
                    "words of the title", required=True),
             _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    "how many")])},
        "/v1/movies/popular": {"get": _operation(
            "movies.popular_movies", "the most favoured movies",
            {"200": _json({"type": "object", "required": ["items"],
                           "properties": {**OFFSET, "items": ITEMS}})}, LIST_PARAMETERS)},
        "/v1/movies/trending": {"get": _operation(
            "movies.trending_movies",
            "the movies rated or favoured most in the last 24 hours or 7 days of event time",
            {"200": _json({"type": "object", "required": ["window", "offset", "items"],
                           "properties": {"window": {"type": "string"}, **OFFSET,
                                          "items": ITEMS}})},
            [*LIST_PARAMETERS, _query("window", {"enum": list(TRENDING_WINDOWS), "default": "24h"},
                                      "how far back")])},
        "/v1/movies/{movie_id}": {
            "get": _operation("movies.get_movie", "a movie and its counts",
                              {"200": _json(_ref("Movie"))}, [MOVIE_ID]),
            "put": _operation(
                "movies.put_movie", "create or replace title, year, genres, tags",
                {"200": _json(_ref("Movie")), "201": _json(_ref("Movie"), "created"),
                 "400": _response("BadParameter"), "413": _response("TooLarge")},
                [MOVIE_ID], writes=True,
                requestBody={"required": True, "content": {"application/json": {
                    "schema": MOVIE_EDIT}}})},
        "/v1/movies/{movie_id}/similar": {"get": _operation(
            "movies.similar", "similar movies (item-item cosine and co-rating similarity)",
            {"200": _json({"type": "object", "required": ["movie_id", "kind", "model_version",
                                                          "items"], "properties": {
                "movie_id": {"type": "integer"}, "kind": {"type": "string"},
                "model_version": {"type": "string"}, **OFFSET, "items": ITEMS}}),
             "503": _response("NoModel")},
            [MOVIE_ID, *LIST_PARAMETERS,
             _query("kind", {"enum": ["hybrid", "collaborative", "content"], "default": "hybrid"},
                    "which similarity")])},
        "/v1/models": {"get": _operation(
            "models.list_models",
            "the stored model versions, newest first: state, data, held-out numbers, gate",
            {"200": _json({"type": "object", "required": ["active", "versions"], "properties": {
                "active": {"type": ["string", "null"]},
                "versions": {"type": "array", "items": VERSION_ROW}}})})},
        "/v1/models/{version}": {"get": _operation(
            "models.show_model",
            "one version with its manifest (parameters, metrics, stage timings)",
            {"200": _json({**VERSION_ROW, "required": [*VERSION_ROW["required"], "manifest"],
                           "properties": {**VERSION_ROW["properties"], "manifest": OBJECT}})},
            [VERSION_PARAMETER])},
        "/v1/admin/retrain": {"post": _operation(
            "models.retrain", "enqueue a retrain; `movierec worker --retrains` runs it",
            {"202": JOB_ACCEPTED}, writes=True)},
        "/v1/admin/models/{version}/activate": {"post": _operation(
            "models.activate",
            "enqueue a rollback to a kept version: it serves at once, its counters rebuilt after",
            {"202": JOB_ACCEPTED}, [VERSION_PARAMETER], writes=True)},
        "/v1/admin/jobs/{job_id}": {"get": _operation(
            "models.job", "a retrain or rollback job: status, stage, result or error",
            {"200": _json(OBJECT)},
            [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}])},
    },
    "components": {"schemas": {"Event": EVENT, "Item": ITEM, "Movie": MOVIE, "Error": ERROR},
                   "responses": RESPONSES, "securitySchemes": {"ApiKey": API_KEY}},
}


@bp.get("/openapi.json")
def document():
    return jsonify(DOCUMENT)
