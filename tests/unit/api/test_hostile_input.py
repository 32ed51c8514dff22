"""Hostile paths, queries and events: a 400 naming the field, and nothing stored (fakeredis)."""
import pytest

from api import create_app
from tests.conftest import stored_keys
from shared.config import Settings
from shared.data.events import MAX_ID
from tests.conftest import load_and_publish
from tests.keys import ADMIN_KEY, keyed, with_keys


@pytest.fixture(scope="module")
def world(tiny_data, tiny_bundle):
    import fakeredis

    client = fakeredis.FakeRedis()
    store = load_and_publish(client, "t", tiny_data, tiny_bundle)
    return keyed(create_app(with_keys(Settings(key_prefix="t")), redis_client=client).test_client()), store


def snapshot(store):
    r = store.redis
    return (len(stored_keys(r)), r.llen(store.keys.inbox), r.scard(store.keys.users),
            r.hlen(store.keys.deleted_users))


@pytest.mark.parametrize("method, path, field", [
    ("delete", f"/v1/users/{10**20}", "user_id"),
    ("delete", f"/v1/users/{MAX_ID + 1}", "user_id"),
    ("delete", f"/v1/users/{10**20}/ratings/1", "user_id"),
    ("delete", f"/v1/users/1/ratings/{10**30}", "movie_id"),
    ("get", f"/v1/users/{10**20}/recommendations", "user_id"),
    ("get", f"/v1/movies/{10**25}", "movie_id"),
    ("get", f"/v1/users/1/predictions?movie_id={10**30}", "movie_id"),
    ("get", "/v1/users/1/predictions?movie_id=%C2%B2", "movie_id"),          # '²'
    ("get", "/v1/users/1/predictions?movie_id=%D9%A3", "movie_id"),          # Arabic-Indic 3
    ("get", "/v1/users/1/recommendations?n=%D9%A3", "n"),
    ("get", "/v1/users/1/recommendations?n=1e3", "n"),
    ("get", "/v1/movies/popular?n=-1", "n"),
])
def test_out_of_bounds_ids_and_unparsable_queries_are_a_400_naming_them(world, method, path, field):
    client, store = world
    before = snapshot(store)
    response = getattr(client, method)(path)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["field"] == field
    assert snapshot(store) == before


def test_an_event_stamped_in_the_year_3000_is_refused_and_nothing_is_stored(world):
    client, store = world
    before = snapshot(store)
    response = client.post("/v1/events", json=[
        {"type": "rating", "user_id": 5, "movie_id": 7, "rating": 4},
        {"type": "rating", "user_id": 5, "movie_id": 7, "rating": 1, "ts": 32503680000}])
    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == "ts" and body["index"] == 1 and "future" in body["reason"]
    assert snapshot(store) == before


def test_movie_ids_from_other_scripts_and_unencodable_text_are_400(world):
    client, store = world
    assert client.get("/v1/movies/\u0663").get_json()["field"] == "movie_id"  # Arabic-Indic 3
    assert client.get("/v1/movies/-1/similar").status_code == 400
    admin = {"X-API-Key": ADMIN_KEY}
    for body, field in (({"title": "\ud800"}, "title"),
                        ({"title": "Fine", "tags": ["\udfff"]}, "tags")):
        response = client.put("/v1/movies/777", json=body, headers=admin)
        assert response.status_code == 400 and response.get_json()["field"] == field
    assert store.movie(777) is None
