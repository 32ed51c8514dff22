"""A home screen in one call, on a tiny trained model (fakeredis): each row what the lists
of the same filters give, the user's own genres and latest high ratings, no movie twice."""
from collections import Counter

import pytest

from shared.data.events import Event
from shared.store.counters import TrendingCache
from tests.unit.api.world import api_on_fakeredis


@pytest.fixture(scope="module")
def world(tiny_data, tiny_bundle):
    return api_on_fakeredis(tiny_data, tiny_bundle, "s")


def user_of(stores, i):
    return sorted(stores.ratings.iter_user_ids())[i]


def ids(items):
    return [item["movie_id"] for item in items]


def test_the_screen_is_the_lists_of_its_rows_with_no_movie_twice(world):
    client, stores = world
    user = user_of(stores, 2)
    screen = client.get(f"/v1/users/{user}/rows?n=8").get_json()
    kinds = [row["kind"] for row in screen["rows"]]
    assert kinds == ["personal", "genre", "genre", "genre", "because", "because", "popular"]
    shown = [m for row in screen["rows"] for m in ids(row["items"])]
    assert len(shown) == len(set(shown)) == 8 * len(kinds)
    rated = stores.ratings.user_ratings(user)
    assert not set(shown) & set(rated)
    personal = client.get(f"/v1/users/{user}/recommendations?n=8").get_json()
    assert screen["rows"][0]["items"] == personal["items"]

    movies = stores.catalogue.all_movies()
    liked = Counter(g for m, (r, *_) in rated.items() if r >= 3.5 for g in movies[m]["genres"])
    top = sorted(liked, key=lambda g: (-liked[g], g))[:3]
    assert [row["genre"] for row in screen["rows"][1:4]] == top
    for row in screen["rows"][1:4]:
        assert all(row["genre"] in item["genres"] for item in row["items"])
        assert row["title"] == f"{row['genre']} for you"

    high = {m: r for m, (r, _, _) in rated.items() if r >= 4}
    latest = sorted(high, key=lambda m: -rated[m][2])[:2]
    assert [row["because"]["movie_id"] for row in screen["rows"][4:6]] == latest
    for row in screen["rows"][4:6]:
        assert row["because"]["rating"] == high[row["because"]["movie_id"]]
        assert row["title"] == f"Because you rated {row['because']['title']}"


def test_with_repeats_each_row_is_the_list_its_filter_gives(world):
    client, stores = world
    user = user_of(stores, 3)
    screen = client.get(f"/v1/users/{user}/rows?n=6&repeats=true&because_rows=0").get_json()
    for row in screen["rows"]:
        if row["kind"] == "genre":
            listed = client.get(f"/v1/users/{user}/recommendations?n=6&genre={row['genre']}")
            assert row["items"] == listed.get_json()["items"]
    personal = set(ids(screen["rows"][0]["items"]))
    assert any(personal & set(ids(row["items"])) for row in screen["rows"][1:])


def test_trending_takes_the_last_row_once_movies_trend(world):
    client, stores = world
    user = user_of(stores, 4)
    movie = next(m for m in sorted(stores.catalogue.all_movies())
                 if m not in stores.ratings.user_ratings(user))
    import time
    stores.ratings.apply([Event("favourite", 8_600_000 + u, movie, 0, time.time() - 60)
                          for u in range(3)])
    svc = client.application.extensions["movierec"]
    svc.trending = TrendingCache(svc.counters)  # as a process starting now reads it
    last = client.get(f"/v1/users/{user}/rows?n=5").get_json()["rows"][-1]
    assert last["kind"] == "trending" and ids(last["items"])[0] == movie


def test_a_user_without_ratings_gets_popular_movies_and_no_rows_of_their_own(world):
    client, _ = world
    screen = client.get("/v1/users/97979797/rows").get_json()
    assert [row["kind"] for row in screen["rows"]][0] == "personal"
    assert {row["kind"] for row in screen["rows"]} <= {"personal", "trending", "popular"}
    assert "popular" in screen["rows"][0]["reason"]


def test_the_screen_is_cached_until_the_user_changes(world):
    client, stores = world
    user = user_of(stores, 6)
    first = client.get(f"/v1/users/{user}/rows?n=4")
    client.application.extensions["movierec"].lists_to_keep.flush()
    cache = stores.redis.hkeys(stores.keys.recommendations_cache(user))
    assert any(b"|rows|4|" in field for field in cache)
    assert client.get(f"/v1/users/{user}/rows?n=4").data == first.data
    top = first.get_json()["rows"][0]["items"][0]["movie_id"]
    stores.ratings.apply([Event("rating", user, top, 9, 2e9)])
    again = client.get(f"/v1/users/{user}/rows?n=4").get_json()
    assert top not in [m for row in again["rows"] for m in ids(row["items"])]


@pytest.mark.parametrize("query, field", [
    ("n=0", "n"), ("n=51", "n"), ("genre_rows=11", "genre_rows"),
    ("because_rows=-1", "because_rows"), ("repeats=yes", "repeats"), ("genre=Drama", "genre")])
def test_bad_row_parameters_are_400_naming_the_field(world, query, field):
    client, stores = world
    response = client.get(f"/v1/users/{user_of(stores, 0)}/rows?{query}")
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_a_movie_the_version_cannot_rank_rises_onto_the_screen_once_rated(world):
    client, stores = world
    user = user_of(stores, 5)
    svc = client.application.extensions["movierec"]
    model = svc.models.get()
    rated = stores.ratings.user_ratings(user)
    ranked = [m for m in sorted(stores.catalogue.all_movies())
              if m not in rated and model.ranks([m])[0]][:3]
    new = 9_000_001  # released since the version was trained
    assert not model.ranks([new])[0] and len(ranked) == 3
    import time
    now = time.time()
    stores.ratings.apply([Event("favourite", 8_700_000 + u, m, 0, now - 60)
                          for u in range(5) for m in ranked]
                         + [Event("rating", 8_700_100, new, 8, now - 30)])
    svc.trending = TrendingCache(svc.counters)  # as a process starting now reads it
    rows = client.get(f"/v1/users/{user}/rows?n=3").get_json()["rows"]
    assert [row["kind"] for row in rows][-2:] == ["trending", "rising"]
    assert set(ids(rows[-2]["items"])) == set(ranked) and ids(rows[-1]["items"]) == [new]
    assert rows[-1]["items"][0]["reason"].startswith("rated or favoured 1 time")
