"""Hostile paths, queries and events (many found by the fuzzing): a 400 naming the field, never
a 500 nor another id than the one written, and nothing stored (fakeredis)."""
import pytest

from api import create_app
from shared.config import Settings
from shared.data.events import MAX_ID
from tests.conftest import load_and_publish, stored_keys
from tests.keys import ADMIN_KEY, keyed, with_keys


@pytest.fixture(scope="module")
def world(tiny_data, tiny_bundle):
    import fakeredis

    client = fakeredis.FakeRedis()
    stores = load_and_publish(client, "t", tiny_data, tiny_bundle)
    app = create_app(with_keys(Settings(key_prefix="t")), redis_client=client)
    return keyed(app.test_client()), stores, app


def snapshot(stores):
    r, ratings, keys = stores.redis, stores.ratings, stores.keys
    partitions = range(keys.partitions)
    return (len(stored_keys(r)), stores.inbox.length(),
            sum(r.scard(keys.users(p)) for p in partitions),
            sum(r.hlen(keys.deleted_users(p)) for p in partitions),
            ratings.user_ratings(1), ratings.user_ratings(3))


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
    ("get", "/v1/users/%D9%A3/recommendations", "user_id"),   # Arabic-Indic 3: was user 3
    ("get", "/v1/users/%D9%A3", "user_id"),
    ("delete", "/v1/users/%D9%A3", "user_id"),
    ("delete", "/v1/users/1/ratings/%D9%A3", "movie_id"),
    ("get", "/v1/users/-1/recommendations", "user_id"),         # was a 404
    ("get", "/v1/users/abc/predictions?movie_id=1", "user_id"),
    ("delete", "/v1/users/1.0", "user_id"),
    ("get", "/v1/users/" + "1" * 5000 + "/recommendations", "user_id"),
    ("get", "/v1/users/1/predictions?movie_id=" + "1" * 5000, "movie_id"),  # was a 500
    ("get", "/v1/users/1/recommendations?n=1_0", "n"),           # int() takes underscores
    ("get", "/v1/users/1/recommendations?n=%205", "n"),
    ("get", "/v1/users/1/recommendations?n=" + "9" * 5000, "n"),
    ("get", "/v1/movies/popular?n=%EF%BC%95", "n"),               # fullwidth 5
])
def test_out_of_bounds_ids_and_unparsable_queries_are_a_400_naming_them(world, method, path, field):
    client, stores, _ = world
    before = snapshot(stores)
    response = getattr(client, method)(path)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["field"] == field
    assert snapshot(stores) == before


def test_an_event_stamped_in_the_year_3000_is_refused_and_nothing_is_stored(world):
    client, stores, _ = world
    before = snapshot(stores)
    response = client.post("/v1/events", json=[
        {"type": "rating", "user_id": 5, "movie_id": 7, "rating": 4},
        {"type": "rating", "user_id": 5, "movie_id": 7, "rating": 1, "ts": 32503680000}])
    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == "ts" and body["index"] == 1 and "future" in body["reason"]
    assert snapshot(stores) == before


def test_movie_ids_from_other_scripts_and_unencodable_text_are_400(world):
    client, stores, _ = world
    assert client.get("/v1/movies/\u0663").get_json()["field"] == "movie_id"  # Arabic-Indic 3
    assert client.get("/v1/movies/-1/similar").status_code == 400
    admin = {"X-API-Key": ADMIN_KEY}
    for body, field in (({"title": "\ud800"}, "title"),
                        ({"title": "Fine", "tags": ["\udfff"]}, "tags")):
        response = client.put("/v1/movies/777", json=body, headers=admin)
        assert response.status_code == 400 and response.get_json()["field"] == field
    assert stores.catalogue.movie(777) is None


def test_well_formed_ids_and_numbers_still_parse(world):
    client, stores, _ = world
    user = sorted(stores.ratings.iter_user_ids())[0]
    body = client.get(f"/v1/users/{user}/recommendations?n=3").get_json()
    assert body["user_id"] == user and len(body["items"]) == 3 and body["cluster"] is not None
    assert client.get("/v1/movies/popular?n=-1").status_code == 400
    assert client.get(f"/v1/users/{user}").get_json()["user_id"] == user


def test_an_event_id_with_a_lone_surrogate_is_refused(world):
    # Python's json decodes "\ud800"; the drain script's cjson refuses it, so the event would
    # be acknowledged and then never applied.
    client, stores, _ = world
    before = snapshot(stores)
    response = client.post("/v1/events", data='{"type": "favourite", "user_id": 1, '
                           '"movie_id": 2, "event_id": "a\\ud800"}',
                           content_type="application/json")
    assert response.status_code == 400 and response.get_json()["field"] == "event_id"
    assert snapshot(stores) == before
    paired = client.post("/v1/events", data='{"type": "favourite", "user_id": 1, '
                         '"movie_id": 2, "event_id": "\\ud83d\\ude00"}',
                         content_type="application/json")
    assert paired.status_code == 202


def test_a_list_redis_refuses_to_keep_is_still_answered(world, monkeypatch):
    """Keeping a list is the cache's business: when Redis refuses it (here every keep meets a
    key of the wrong type; a full Redis refuses the same way: tests/unit/store/test_cache.py),
    the requests are answered all the same, the one that computed it and the next one."""
    from shared.store.cache import RecommendationCache

    client, stores, app = world
    user = sorted(stores.ratings.iter_user_ids())[1]
    blocked = f"{stores.keys.base}:not-a-hash"
    stores.redis.set(blocked, "x")
    keep_call = RecommendationCache._keep_call
    monkeypatch.setattr(RecommendationCache, "_keep_call",
                        lambda self, computed: ([keep_call(self, computed)[0][0], blocked],
                                                keep_call(self, computed)[1]))
    url = f"/v1/users/{user}/recommendations?n=4&strategy=svd"
    response = client.get(url)
    assert response.status_code == 200 and len(response.get_json()["items"]) == 4
    assert client.get(url).data == response.data  # the keep rode with this lookup, refused
    app.extensions["movierec"].lists_to_keep.flush()  # and alone
    assert not stores.redis.exists(stores.keys.recommendations_cache(user))
