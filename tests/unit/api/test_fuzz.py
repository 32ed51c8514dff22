"""Schemathesis against the API's own ``/openapi.json``, in process on a tiny trained model
(fakeredis): whatever it sends, no answer is a 5xx, and every answer is one the document
describes (status code, content type, body schema, headers). Bounded and derandomized, so a run
in CI sends the same requests every time."""
import fakeredis
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import create_app
from shared import config
from tests.conftest import load_and_publish

pytestmark = pytest.mark.slow

ADMIN_KEY = "fuzz-admin-key"
ENV = {
    "MOVIEREC_PREFIX": "fuzz",
    "MOVIEREC_ADMIN_KEYS": ADMIN_KEY,
    "MOVIEREC_WRITE_KEYS": "fuzz-write-key",
    "MOVIEREC_RATE_LIMIT_PER_KEY": "1000000/minute",
    "MOVIEREC_RATE_LIMIT_PER_ADDRESS": "1000000/minute",
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def make_app(client):
    return create_app(config.load(ENV), redis_client=client)


# The document as the app serves it; the operations are collected from it at import time.
schema = schemathesis.openapi.from_wsgi("/openapi.json", make_app(fakeredis.FakeRedis()))


@pytest.fixture(scope="module")
def world(tiny_data, tiny_bundle):
    """An app with a catalogue and a published model, so recommendations, predictions and
    similar movies do real work. The DELETEs fuzzed remove a few users at most: the model, the
    catalogue and the other users stay."""
    client = fakeredis.FakeRedis()
    load_and_publish(client, "fuzz", tiny_data, tiny_bundle)
    return make_app(client)


def call_and_validate(app, case):
    app.extensions["movierec"].operations.beat("fuzz-worker")  # alive, as /readyz asks
    case.call_and_validate(app=app, headers={"X-API-Key": ADMIN_KEY}, checks=CHECKS)


# No deadline and no health checks: both time the machine, and CI's may be slow and busy.
BOUNDED = settings(max_examples=25, derandomize=True, database=None, deadline=None,
                   suppress_health_check=list(HealthCheck))


@schema.exclude(method="DELETE").parametrize()
@BOUNDED
def test_no_answer_is_a_server_error_or_off_the_document(world, case):
    call_and_validate(world, case)


# After the others (pytest runs a module's tests in order), so that they read users the
# deletions have not emptied yet.
@schema.include(method="DELETE").parametrize()
@BOUNDED
def test_no_deletion_answer_is_a_server_error_or_off_the_document(world, case):
    call_and_validate(world, case)
