"""The OpenAPI event schema against the validator the API really runs (shared.data.events)."""
import json
import math
import random

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from api.openapi import DOCUMENT, EVENT
from shared.data.events import (
    EVENT_TYPES,
    MAX_EVENT_ID_LENGTH,
    MAX_EVENTS_PER_REQUEST,
    MAX_ID,
    EventError,
    validate_event,
    validate_events,
)
from shared.recsys.ratings import RATING_MAX, RATING_MIN, RATING_STEP

DOCUMENT_URI = "urn:movierec:openapi"
MISSING = object()
FIELDS = {
    "type": [MISSING, None, *EVENT_TYPES, *EVENT_TYPES, "like", "", "Rating", 5, True, ["rating"]],
    "user_id": [MISSING, None, 1, 7, MAX_ID, MAX_ID + 1, 0, -3, 2**70, 2.5, "1", True, False, [1]],
    "movie_id": [MISSING, None, 2, 2, MAX_ID, MAX_ID + 1, 0, 1.5, "2", False, {}],
    "rating": [MISSING, MISSING, None, None, RATING_MIN, RATING_MAX, 3, 4.5, 0, -1,
               RATING_MIN - RATING_STEP, RATING_MAX + RATING_STEP, RATING_MIN + RATING_STEP / 2,
               3.3, 4.500000000000001, 1e20, 2**70, "4", True, [4]],
    "ts": [MISSING, MISSING, None, 0, 10, 1.5, -1, -0.0, -1e-9, 2**70, 1e300, "1", True, {}],
    "event_id": [MISSING, MISSING, None, "", "a", "x" * MAX_EVENT_ID_LENGTH,
                 "x" * (MAX_EVENT_ID_LENGTH + 1), "\u00e9" * MAX_EVENT_ID_LENGTH,
                 "\U0001F600" * MAX_EVENT_ID_LENGTH, 5, ["a"]],
}
EXTRA_FIELDS = [None, None, None, None, "colour", "Type", "half_stars"]
EDGE_CASES = [
    {"type": "rating", "user_id": 1, "movie_id": 2, "rating": RATING_MIN},
    {"type": "rating", "user_id": MAX_ID, "movie_id": MAX_ID, "rating": RATING_MAX},
    {"type": "rating", "user_id": MAX_ID + 1, "movie_id": 2, "rating": 3},
    {"type": "rating", "user_id": 1, "movie_id": 2},
    {"type": "rating", "user_id": 1, "movie_id": 2, "rating": None},
    {"type": "rating", "user_id": 1, "movie_id": 2, "rating": 3.25},
    {"type": "favourite", "user_id": 1, "movie_id": 2, "rating": None, "ts": None,
     "event_id": None},
    {"type": "favourite", "user_id": 1, "movie_id": 2, "rating": 4},
    {"type": "unfavourite", "user_id": 1, "movie_id": 2, "rating": 4.5},
    {"type": "unfavourite", "user_id": 1, "movie_id": MAX_ID + 1},
    {"type": "favourite", "user_id": 1, "movie_id": 2, "ts": -0.0, "event_id": "x"},
    {"type": "favourite", "user_id": 1, "movie_id": 2, "event_id": ""},
    {"type": None, "user_id": 1, "movie_id": 2},
    {"type": "remove", "user_id": 1, "movie_id": 2},
    {"user_id": 1, "movie_id": 2, "rating": 3},
    {"type": "favourite", "user_id": None, "movie_id": 2},
    {},
    [], 5, "rating", None, True,
]


def random_event(rng):
    if rng.random() < 0.02:
        return rng.choice([5, "x", None, [1], 1.5, True])
    obj = {}
    for field, pool in FIELDS.items():
        value = rng.choice(pool)
        if value is not MISSING:
            obj[field] = value
    extra = rng.choice(EXTRA_FIELDS)
    if extra:
        obj[extra] = 1
    return obj


def random_valid_event(rng):
    kind = rng.choice(EVENT_TYPES)
    obj = {"type": kind, "user_id": rng.randint(1, MAX_ID), "movie_id": rng.randint(1, 10**6)}
    if kind == "rating":
        obj["rating"] = rng.randint(1, int(RATING_MAX / RATING_STEP)) * RATING_STEP
    if rng.random() < 0.5:
        obj["ts"] = rng.choice([rng.random() * 2e9, rng.randint(0, 2**31), None])
    if rng.random() < 0.5:
        obj["event_id"] = rng.choice([f"e{rng.randint(0, 10**9)}", None])
    return obj


def as_received(obj):
    """``obj`` as the API's json.loads gives it back.

    Only RFC 8259 JSON: json.loads also takes NaN and Infinity, which no JSON Schema can describe
    (a ts of Infinity passes ``minimum: 0``); the validator refuses them.
    """
    return json.loads(json.dumps(obj, allow_nan=False))


def corpus(seed=9, n=4000):
    rng = random.Random(seed)
    objs = EDGE_CASES + [random_valid_event(rng) if rng.random() < 0.3 else random_event(rng)
                         for _ in range(n)]
    return [as_received(obj) for obj in objs]


def accepted(validate, value):
    """Whether the validator accepts ``value``, its clock set past every ts of the corpus: how
    far ahead of the clock a ts may be depends on the moment, which a schema cannot say."""
    try:
        validate(value, math.inf)
    except EventError:
        return False
    return True


def schema_validator(pointer):
    """A validator for the schema at ``pointer`` in the document, its $refs resolved in it."""
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=registry)


def test_event_schema_is_valid_json_schema_2020_12_as_openapi_3_1_requires():
    assert DOCUMENT["openapi"].startswith("3.1.")
    Draft202012Validator.check_schema(EVENT)


def test_event_schema_accepts_exactly_what_the_validator_accepts():
    schema = schema_validator("/components/schemas/Event")
    objs = corpus()
    outcomes = [(accepted(validate_event, obj), schema.is_valid(obj)) for obj in objs]
    assert sum(ok for ok, _ in outcomes) > 500 and sum(not ok for ok, _ in outcomes) > 500
    disagreements = [(obj, ok) for obj, (ok, schema_ok) in zip(objs, outcomes) if ok != schema_ok]
    assert not disagreements, f"{len(disagreements)} disagreements (object, validator accepts): " \
                              f"{disagreements[:5]}"


@pytest.mark.parametrize("field", ["user_id", "movie_id"])
def test_only_known_difference_is_an_id_written_as_an_integral_float(field):
    # JSON Schema counts 2.0 as an integer; the validator refuses it as json.loads gives a float.
    # A schema cannot tell 2.0 from 2, and clients send ids as integers.
    event = {"type": "favourite", "user_id": 1, "movie_id": 2, field: 2.0}
    assert schema_validator("/components/schemas/Event").is_valid(event)
    with pytest.raises(EventError, match="got float"):
        validate_event(event)


def test_request_body_schema_accepts_exactly_what_validate_events_accepts():
    body = schema_validator("/paths/~1v1~1events/post/requestBody/content/application~1json/schema")
    rng = random.Random(10)
    good = {"type": "favourite", "user_id": 1, "movie_id": 2}
    bodies = [[], [good], [good] * MAX_EVENTS_PER_REQUEST, [good] * (MAX_EVENTS_PER_REQUEST + 1),
              [5] * (MAX_EVENTS_PER_REQUEST + 1), None, "x", 5, good]
    for _ in range(400):
        size = rng.randint(1, 6)
        bodies.append([random_valid_event(rng) if rng.random() < 0.8 else random_event(rng)
                       for _ in range(size)])
    bodies = [as_received(b) for b in bodies]
    outcomes = [(accepted(validate_events, b), body.is_valid(b)) for b in bodies]
    assert sum(ok for ok, _ in outcomes) > 50 and sum(not ok for ok, _ in outcomes) > 50
    disagreements = [(b, ok) for b, (ok, schema_ok) in zip(bodies, outcomes) if ok != schema_ok]
    assert not disagreements, f"{len(disagreements)} disagreements: {str(disagreements[:3])[:2000]}"


def test_served_document_carries_the_event_schema(fake_redis):
    from api import create_app
    from shared.config import Settings

    client = create_app(Settings(key_prefix="t"), redis_client=fake_redis).test_client()
    served = client.get("/openapi.json").get_json()
    assert served["components"]["schemas"]["Event"] == as_received(EVENT)


def test_every_route_is_documented_with_the_access_and_limits_it_has(fake_redis):
    """Each operation's security and refusals against the route table (api.routes) that
    api.auth and api.limits enforce, for the Flask rule at the operation's path and method."""
    import re

    from api import auth, create_app
    from api.routes import ROUTES
    from shared.config import Settings

    app = create_app(Settings(key_prefix="t"), redis_client=fake_redis)
    expected_security = {auth.OPEN: [], auth.READ: [{}, {"ApiKey": []}],
                         auth.PRIVATE: [{"ApiKey": []}], auth.WRITE: [{"ApiKey": []}],
                         auth.ADMIN: [{"ApiKey": []}]}
    scheme = DOCUMENT["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", auth.HEADER)
    routes = [(rule, method) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods - {"HEAD", "OPTIONS"}]
    assert len(routes) == sum(len(ops) for ops in DOCUMENT["paths"].values())
    for rule, method in routes:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        operation = DOCUMENT["paths"][path][method.lower()]
        access, limited = ROUTES[rule.endpoint]
        where = f"{method} {path}"
        assert operation["security"] == expected_security[access], where
        assert ("401" in operation["responses"]) == (access != auth.OPEN), where
        assert ("403" in operation["responses"]) == (access in (auth.WRITE, auth.ADMIN)), where
        assert ("429" in operation["responses"]) == limited, where
        assert not any(p["in"] == "header" for p in operation.get("parameters", [])), where
        if rule.arguments or any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert "400" in operation["responses"], where
