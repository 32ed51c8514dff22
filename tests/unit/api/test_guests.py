"""A guest's list from the ratings in the request, on a tiny trained model (fakeredis): what a
user with those ratings gets, filtered and paged the same way, and nothing stored."""
import pytest

from tests.unit.api.world import api_on_fakeredis


@pytest.fixture(scope="module")
def world(tiny_data, tiny_bundle):
    return api_on_fakeredis(tiny_data, tiny_bundle, "g")


def ratings_of(stores, user) -> dict:
    return {str(movie): rating for movie, (rating, *_) in stores.ratings.user_ratings(user).items()}


def snapshot(world) -> dict:
    """Every key but the rate limits' counters, with its value, once the lists users' requests
    computed are kept (the API keeps them on the way of its next lookup)."""
    client, stores = world
    client.application.extensions["movierec"].lists_to_keep.flush()
    return {key: stores.redis.dump(key) for key in stores.redis.keys()
            if b":ratelimit:" not in key}


@pytest.mark.parametrize("query", ["n=8", "n=8&strategy=hybrid", "n=5&genre=Drama&offset=5",
                                   "n=6&year_max=1999&exclude=1,2,3", "n=7&diversity=0.8"])
def test_a_guest_with_a_users_ratings_gets_that_users_list(world, query):
    client, stores = world
    user = sorted(stores.ratings.iter_user_ids())[5]
    mine = client.get(f"/v1/users/{user}/recommendations?{query}").get_json()
    guest = client.post(f"/v1/recommendations?{query}", json={"ratings": ratings_of(stores, user)})
    assert guest.status_code == 200
    body = guest.get_json()
    assert body["items"] and body["items"] == mine["items"]
    # (the cluster is the classifier's, for the user k-means's: they may differ)
    assert {k: body[k] for k in ("strategy", "model_version", "fallback", "offset")} \
        == {k: mine[k] for k in ("strategy", "model_version", "fallback", "offset")}
    assert body["cluster"] is not None


def test_a_guest_is_served_and_nothing_is_stored(world):
    client, stores = world
    before = snapshot(world)
    rated = {"1": 5, "2": 4.5, "3": 0.5}
    body = client.post("/v1/recommendations?n=10", json={"ratings": rated}).get_json()
    assert len(body["items"]) == 10 and not {str(i["movie_id"]) for i in body["items"]} & set(rated)
    unknown_movies = client.post("/v1/recommendations?n=3", json={"ratings": {"99999999": 4}})
    assert unknown_movies.status_code == 200 and len(unknown_movies.get_json()["items"]) == 3
    empty = client.post("/v1/recommendations?n=3", json={"ratings": {}}).get_json()
    assert empty["fallback"] == "popular" and len(empty["items"]) == 3
    assert snapshot(world) == before


@pytest.mark.parametrize("body, field, says", [
    ({"ratings": {"1": 6}}, "ratings.1", "between 0.5 and 5"),
    ({"ratings": {"1": 3.3}}, "ratings.1", "half-star grid"),
    ({"ratings": {"1": "4"}}, "ratings.1", "must be a number"),
    ({"ratings": {"x": 4}}, "ratings.x", "positive integer"),
    ({"ratings": {"0": 4}}, "ratings.0", "positive integer"),
    ({"ratings": {str(m): 4 for m in range(1, 502)}}, "ratings", "at most 500"),
    ({"ratings": [[1, 4]]}, "ratings", "object of movie id to rating"),
    ({"rating": {"1": 4}}, "rating", "not a field"),
    ([1, 2], "body", "JSON object"),
])
def test_bad_guest_ratings_are_400_naming_the_field(world, body, field, says):
    client, stores = world
    before = snapshot(world)
    response = client.post("/v1/recommendations", json=body)
    assert response.status_code == 400
    assert response.get_json()["field"] == field and says in response.get_json()["reason"]
    assert snapshot(world) == before


def test_a_guest_request_needs_json_and_known_parameters(world):
    client, _ = world
    response = client.post("/v1/recommendations", data="ratings=1", content_type="text/plain")
    assert response.status_code == 400 and response.get_json()["field"] == "body"
    response = client.post("/v1/recommendations?user_id=3", json={"ratings": {"1": 4}})
    assert response.status_code == 400 and response.get_json()["field"] == "user_id"
