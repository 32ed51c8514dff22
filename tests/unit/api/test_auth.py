"""Keys: who may call what (api/auth.py, by the route table api/routes.py), on fakeredis."""
import dataclasses

import fakeredis
import pytest

from api import create_app
from api.routes import ROUTES
from shared.config import Settings
from shared.data.events import Event
from tests.conftest import stored_keys
from tests.keys import ADMIN_KEY, READ_KEY, WRITE_KEY, with_keys

EVENT = {"type": "rating", "user_id": 1, "movie_id": 2, "rating": 4.0}


def client_for(settings):
    return create_app(settings, redis_client=fakeredis.FakeRedis()).test_client()


@pytest.fixture
def client():
    return client_for(with_keys(Settings(key_prefix="t")))


def as_key(key):
    return {"X-API-Key": key} if key is not None else {}


def test_every_route_is_in_the_route_table_and_the_table_holds_no_other():
    app = create_app(Settings(key_prefix="t"), redis_client=fakeredis.FakeRedis())
    declared = set(ROUTES) - {None}  # (None: a URL that names no route)
    assert {rule.endpoint for rule in app.url_map.iter_rules()} == declared


@pytest.mark.parametrize("key, status", [(None, 401), ("not-a-key", 401), (READ_KEY, 403),
                                         (WRITE_KEY, 403), (ADMIN_KEY, 200)])
def test_a_route_missing_from_the_table_needs_the_admin_key(key, status):
    app = create_app(with_keys(Settings(key_prefix="t"), read=True),
                     redis_client=fakeredis.FakeRedis())
    app.add_url_rule("/v1/undeclared", "undeclared", lambda: {"done": True})
    assert app.test_client().get("/v1/undeclared", headers=as_key(key)).status_code == status


@pytest.mark.parametrize("key", [None, "not-a-key", READ_KEY])
def test_a_url_that_names_no_route_is_anyones_404_or_405(key):
    client = client_for(with_keys(Settings(key_prefix="t"), read=True))
    assert client.get("/v1/nothing-here", headers=as_key(key)).status_code == 404
    assert client.post("/healthz", headers=as_key(key)).status_code == 405


@pytest.mark.parametrize("key, status", [(None, 401), ("not-a-key", 401), (READ_KEY, 401),
                                         (WRITE_KEY, 202), (ADMIN_KEY, 202)])
def test_posting_events_needs_a_write_key(client, key, status):
    response = client.post("/v1/events", json=EVENT, headers=as_key(key))
    assert response.status_code == status
    if status == 401:
        assert response.get_json()["field"] == "X-API-Key"


def test_a_read_key_is_forbidden_to_write_when_read_keys_exist():
    client = client_for(with_keys(Settings(key_prefix="t"), read=True))
    response = client.post("/v1/events", json=EVENT, headers=as_key(READ_KEY))
    assert response.status_code == 403
    assert response.get_json() == {"error": "forbidden", "field": "X-API-Key",
                                   "reason": "a read key may not do this; it needs a write key"}
    assert client.delete("/v1/users/1", headers=as_key(READ_KEY)).status_code == 403


@pytest.mark.parametrize("key, status", [(None, 401), (WRITE_KEY, 403), (ADMIN_KEY, 400)])
def test_editing_a_movie_needs_the_admin_key(client, key, status):
    assert client.put("/v1/movies/5", json={}, headers=as_key(key)).status_code == status


def test_reads_are_open_until_read_keys_are_configured(client):
    assert client.get("/v1/movies/popular").status_code == 200
    assert client.get("/v1/movies/popular", headers=as_key("wrong")).status_code == 401
    closed = client_for(with_keys(Settings(key_prefix="t"), read=True))
    assert closed.get("/v1/movies/popular").status_code == 401
    for key in (READ_KEY, WRITE_KEY, ADMIN_KEY):
        assert closed.get("/v1/movies/popular", headers=as_key(key)).status_code == 200


def test_a_users_profile_always_needs_a_key():
    app = create_app(with_keys(Settings(key_prefix="t")), redis_client=fakeredis.FakeRedis())
    app.extensions["movierec"].ratings.apply([Event("rating", 1, 2, 8, 9e9)])
    client = app.test_client()
    for user in (1, 2):  # without a key, whether the user exists is not told
        assert client.get(f"/v1/users/{user}").status_code == 401
    assert client.get("/v1/users/1", headers=as_key(WRITE_KEY)).status_code == 200
    assert client.get("/v1/users/2", headers=as_key(WRITE_KEY)).status_code == 404


def test_probes_metrics_and_the_document_need_no_key(client):
    for path in ("/healthz", "/openapi.json", "/metrics"):
        assert client.get(path).status_code == 200, path


def test_refused_writes_store_nothing():
    redis_client = fakeredis.FakeRedis()
    client = create_app(with_keys(Settings(key_prefix="t")),
                        redis_client=redis_client).test_client()
    before = stored_keys(redis_client)
    assert client.post("/v1/events", json=EVENT).status_code == 401
    assert client.delete("/v1/users/1").status_code == 401
    assert stored_keys(redis_client) == before


def test_a_key_configured_under_two_kinds_has_the_larger_rights():
    settings = dataclasses.replace(Settings(key_prefix="t"), write_keys=(ADMIN_KEY,),
                                   admin_keys=(ADMIN_KEY,))
    client = client_for(settings)
    assert client.put("/v1/movies/5", json={}, headers=as_key(ADMIN_KEY)).status_code == 400

