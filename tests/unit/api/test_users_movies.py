"""The read side of the API on a tiny trained model (fakeredis)."""
import re
import time

import pytest

from api import create_app
from shared.config import Settings
from shared.data.events import Event
from shared.store.cache import ComputedList, RecommendationCache
from shared.store.counters import TrendingCache
from tests.conftest import load_and_publish
from tests.keys import ADMIN_KEY, keyed, with_keys

SETTINGS = with_keys(Settings(key_prefix="t"))


@pytest.fixture(scope="module")
def world(tiny_data, tiny_bundle):
    """Built once for the module (the Lua import is slow on fakeredis); tests that change
    state each use a user of their own (``known_user(stores, i)``)."""
    import fakeredis

    client = fakeredis.FakeRedis()
    stores = load_and_publish(client, "t", tiny_data, tiny_bundle)
    app = create_app(SETTINGS, redis_client=client)
    return keyed(app.test_client()), stores, tiny_bundle


@pytest.fixture
def fake_redis(world):
    return world[1].redis


def known_user(stores, i=0):
    return sorted(stores.ratings.iter_user_ids())[i]


def user_revision(stores, user):
    keys = stores.keys
    return stores.redis.hget(keys.user_revisions(keys.partition_of(user)), user) or b"0"


@pytest.mark.parametrize("strategy", ["hybrid", "cluster", "cluster-ratings", "svd"])
def test_recommendations_exclude_rated_movies_and_explain_themselves(world, strategy):
    client, stores, bundle = world
    user = known_user(stores)
    response = client.get(f"/v1/users/{user}/recommendations?n=7&strategy={strategy}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == bundle.version and body["fallback"] is None
    assert body["cluster"] is not None and len(body["items"]) == 7
    rated = set(stores.ratings.user_ratings(user))
    for item in body["items"]:
        assert item["movie_id"] not in rated
        assert item["title"] and item["reason"]
        assert set(item) == {"movie_id", "title", "genres", "score", "reason"}
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_cluster_strategy_reason_counts_the_cluster(world, fake_redis):
    client, stores, bundle = world
    user = known_user(stores)
    body = client.get(f"/v1/users/{user}/recommendations?strategy=cluster&n=1").get_json()
    home = stores.keys.partition_of(body["cluster"])  # a cluster's size is in its partition
    size = int(fake_redis.hget(stores.keys.cluster_sizes(bundle.version, home), body["cluster"]))
    item = body["items"][0]
    assert item["reason"] == (f"liked by {int(item['score'])} of the {size} viewers in your "
                              "taste cluster")


def test_a_rating_removes_the_movie_from_the_list(world):
    client, stores, _ = world
    user = known_user(stores, 1)
    first = client.get(f"/v1/users/{user}/recommendations?n=3").get_json()["items"][0]["movie_id"]
    stores.ratings.apply([Event("rating", user, first, 6, 9e9)])
    after = client.get(f"/v1/users/{user}/recommendations?n=3").get_json()["items"]
    assert first not in [item["movie_id"] for item in after]


def test_unknown_user_gets_popular_movies_flagged(world):
    client, _, bundle = world
    body = client.get("/v1/users/987654/recommendations?n=4").get_json()
    assert body["fallback"] == "popular" and body["cluster"] is None
    assert body["model_version"] == bundle.version and len(body["items"]) == 4
    assert all("favourite of" in item["reason"] for item in body["items"])


@pytest.mark.parametrize("url, field", [
    ("/v1/users/1/recommendations?n=0", "n"),
    ("/v1/users/1/recommendations?n=abc", "n"),
    ("/v1/users/1/recommendations?strategy=magic", "strategy"),
    ("/v1/users/0/recommendations", "user_id"),
    ("/v1/users/1/predictions", "movie_id"),
    ("/v1/users/1/predictions?movie_id=x", "movie_id"),
    ("/v1/movies/1/similar?kind=vibes", "kind"),
    ("/v1/movies?q=", "q"),
])
def test_bad_parameters_are_400_naming_the_field(world, url, field):
    client, _, _ = world
    response = client.get(url)
    assert response.status_code == 400
    assert response.get_json()["field"] == field and response.get_json()["reason"]


def test_predictions_are_on_the_rating_scale(world):
    client, stores, bundle = world
    user = known_user(stores)
    movies = list(bundle.arrays["movie_ids"][:3])
    body = client.get(f"/v1/users/{user}/predictions?" + "&".join(
        f"movie_id={m}" for m in movies + [10**9])).get_json()
    ratings = [p["rating"] for p in body["predictions"]]
    assert all(0.5 <= r <= 5 for r in ratings[:3]) and ratings[3] is None


def test_user_profile_and_deletion(world, fake_redis):
    client, stores, bundle = world
    user = known_user(stores, 2)
    stores.ratings.apply([Event("favourite", user, int(bundle.arrays["movie_ids"][0]), 0, 9e9)])
    profile = client.get(f"/v1/users/{user}").get_json()
    assert profile["cluster"] is not None and profile["n_ratings"] > 0
    assert profile["last_events"][0]["type"] == "favourite"
    keys = stores.keys
    assignments = keys.assignments(bundle.version, keys.partition_of(user))
    assert fake_redis.hget(assignments, user) is not None
    deleted = client.delete(f"/v1/users/{user}")
    assert deleted.status_code == 200 and deleted.get_json()["removed"] > 0
    assert client.delete(f"/v1/users/{user}").get_json()["removed"] == 0
    assert client.get(f"/v1/users/{user}").status_code == 404
    assert fake_redis.hget(assignments, user) is None


def test_delete_one_rating_is_idempotent(world):
    client, stores, _ = world
    user = known_user(stores, 3)
    movie = next(iter(stores.ratings.user_ratings(user)))
    assert client.delete(f"/v1/users/{user}/ratings/{movie}").get_json()["removed"] is True
    assert movie not in stores.ratings.user_ratings(user)
    assert client.delete(f"/v1/users/{user}/ratings/{movie}").get_json()["removed"] is False


def test_movie_lookup_search_popular_and_similar(world):
    client, stores, bundle = world
    movie = int(bundle.arrays["movie_ids"][0])
    info = client.get(f"/v1/movies/{movie}").get_json()
    # counted from the users' own ratings (other tests of the module delete some)
    ratings = stores.ratings
    rated = [ratings.user_ratings(u).get(movie, (0.0,))[0] for u in ratings.iter_user_ids()]
    assert info["title"] and info["n_ratings"] == sum(r > 0 for r in rated) > 0
    assert client.get("/v1/movies/99999999").status_code == 404
    word = info["title"].split()[0]
    hits = client.get(f"/v1/movies?q={word}").get_json()["items"]
    assert movie in [h["movie_id"] for h in hits]
    popular = client.get("/v1/movies/popular?n=5").get_json()["items"]
    assert len(popular) == 5
    for kind in ("collaborative", "content", "hybrid"):
        similar = client.get(f"/v1/movies/{movie}/similar?n=5&kind={kind}").get_json()
        ids = [item["movie_id"] for item in similar["items"]]
        assert len(ids) == 5 and movie not in ids
    assert client.get("/v1/movies/99999999/similar").status_code == 404


def test_put_movie_needs_the_admin_key_and_valid_fields(world):
    client, stores, _ = world
    body = {"title": "New Film", "genres": ["Drama"], "tags": ["slow"]}
    assert client.put("/v1/movies/777777", json=body, headers={"X-API-Key": ""}).status_code == 401
    assert client.put("/v1/movies/777777", json=body).status_code == 403  # the write key
    assert client.put("/v1/movies/777777", json=body,
                      headers={"X-API-Key": "wrong"}).status_code == 401
    bad = client.put("/v1/movies/777777", json={"title": ""}, headers={"X-API-Key": ADMIN_KEY})
    assert bad.status_code == 400 and bad.get_json()["field"] == "title"
    assert stores.catalogue.movie(777777) is None
    created = client.put("/v1/movies/777777", json=body, headers={"X-API-Key": ADMIN_KEY})
    assert created.status_code == 201 and created.get_json()["title"] == "New Film"
    assert client.get("/v1/movies?q=new film").get_json()["items"][0]["movie_id"] == 777777
    replaced = client.put("/v1/movies/777777", json=dict(body, title="Renamed"),
                          headers={"X-API-Key": ADMIN_KEY})
    assert replaced.status_code == 200 and stores.catalogue.movie(777777)["title"] == "Renamed"


def test_openapi_documents_every_route(world):
    client, _, _ = world
    document = client.get("/openapi.json").get_json()
    app = client.application
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {path} is not documented"


def test_recommendations_are_cached_until_the_user_changes(world, fake_redis):
    client, stores, bundle = world
    user = known_user(stores, 4)
    url = f"/v1/users/{user}/recommendations?n=5&strategy=svd"
    first = client.get(url).data
    key = stores.keys.recommendations_cache(user)
    field = f"{bundle.version}|svd|5"
    # kept on the way of the next lookup, which finds it there
    assert client.get(url).data == first and fake_redis.hget(key, field) == first
    assert 0 < fake_redis.ttl(key) <= SETTINGS.recommendation_ttl
    # a planted cache entry is served as it is
    fake_redis.hset(key, field, b'{"planted":true}')
    assert client.get(url).get_json() == {"planted": True}
    # the user's own event drops their cache: recomputed, not served stale
    stores.ratings.apply([Event("favourite", user, int(bundle.arrays["movie_ids"][-1]), 0, 9e9)])
    assert not fake_redis.exists(key)
    fresh = client.get(url).get_json()
    assert "planted" not in fresh and len(fresh["items"]) == 5


def test_a_list_computed_before_a_change_is_not_cached(world, fake_redis):
    _, stores, _ = world
    user = known_user(stores, 5)
    revision = user_revision(stores, user)
    stores.ratings.apply([Event("favourite", user, 1, 0, 9e9)])  # lands while a list is computed
    cache = RecommendationCache(fake_redis, stores.keys)
    assert cache.keep_many([ComputedList(user, revision, "f", b"stale", 60)]) == [False]
    now = user_revision(stores, user)
    assert cache.keep_many([ComputedList(user, now, "f", b"ok", 60)]) == [True]
    assert fake_redis.hget(stores.keys.recommendations_cache(user), "f") == b"ok"


def catalogue(stores):
    return stores.catalogue.all_movies()


def least_common_genre(stores, at_least):
    """The catalogue's rarest genre with at least ``at_least`` movies."""
    counts = {}
    for info in catalogue(stores).values():
        for genre in info["genres"]:
            counts[genre] = counts.get(genre, 0) + 1
    return min((c, g) for g, c in counts.items() if c >= at_least)[1]


@pytest.mark.parametrize("strategy", ["personal", "hybrid", "cluster", "cluster-ratings", "svd"])
def test_a_genre_row_has_n_movies_of_the_genre_filtered_before_the_cut(world, strategy):
    client, stores, _ = world
    user = known_user(stores, 3)
    genre = least_common_genre(stores, 40)
    url = f"/v1/users/{user}/recommendations?n=12&strategy={strategy}"
    body = client.get(f"{url}&genre={genre.upper()}").get_json()  # any case
    rated = set(stores.ratings.user_ratings(user))
    assert len(body["items"]) == 12 and body["offset"] == 0
    for item in body["items"]:
        assert genre in item["genres"] and item["movie_id"] not in rated
    assert body != client.get(url).get_json()  # a list of its own, not the cached unfiltered one


def test_years_and_excluded_movies_filter_every_list(world):
    client, stores, bundle = world
    user = known_user(stores, 3)
    movies = catalogue(stores)
    first = client.get(f"/v1/users/{user}/recommendations?n=5").get_json()["items"]
    left_out = [item["movie_id"] for item in first]
    urls = [f"/v1/users/{user}/recommendations?n=10", "/v1/movies/popular?n=10",
            f"/v1/movies/{int(bundle.arrays['movie_ids'][0])}/similar?n=10"]
    for url in urls:
        body = client.get(f"{url}&year_min=1990&year_max=2005&exclude="
                          f"{','.join(map(str, left_out[:3]))}&exclude={left_out[3]}").get_json()
        assert body["items"], url
        for item in body["items"]:
            assert 1990 <= movies[item["movie_id"]]["year"] <= 2005, url
            assert item["movie_id"] not in left_out[:4], url


@pytest.mark.parametrize("base", ["/v1/users/{user}/recommendations?strategy=hybrid",
                                  "/v1/users/{user}/recommendations?genre=Drama",
                                  "/v1/movies/popular?year_min=1980",
                                  "/v1/movies/{movie}/similar?kind=content"])
def test_pages_follow_each_other_with_no_repeat_and_no_gap(world, base):
    client, stores, bundle = world
    url = base.format(user=known_user(stores, 4), movie=int(bundle.arrays["movie_ids"][1]))
    whole = [i["movie_id"] for i in client.get(f"{url}&n=15").get_json()["items"]]
    pages = [client.get(f"{url}&n=5&offset={offset}").get_json() for offset in (0, 5, 10)]
    assert [page["offset"] for page in pages] == [0, 5, 10]
    assert [i["movie_id"] for page in pages for i in page["items"]] == whole
    assert len(whole) == 15


@pytest.mark.parametrize("query, field, says", [
    ("genre=Comedy&colour=red", "colour", "not a parameter"),
    ("gnre=Comedy", "gnre", "not a parameter"),
    ("genre=Westerns", "genre", "no movie has the genre"),
    ("genre=", "genre", "1 to 100 characters"),
    ("year_min=1600", "year_min", "from 1870 to 2100"),
    ("year_min=2000&year_max=1990", "year_max", "not be before year_min"),
    ("exclude=12,abc", "exclude", "movie ids"),
    ("exclude=" + ",".join(map(str, range(1, 502))), "exclude", "at most 500"),
    ("offset=-1", "offset", "from 0"),
    ("n=100&offset=401", "offset", "from 0 to 400"),
])
def test_bad_filters_and_pages_are_400_naming_the_field(world, query, field, says):
    client, stores, bundle = world
    movie = int(bundle.arrays["movie_ids"][0])
    for url in (f"/v1/users/{known_user(stores)}/recommendations", "/v1/movies/popular",
                f"/v1/movies/{movie}/similar"):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400, url
        assert response.get_json()["field"] == field and says in response.get_json()["reason"]


def test_trending_movies_are_those_rated_or_favoured_most_lately(world):
    client, stores, _ = world
    movies = catalogue(stores)
    drama = sorted(m for m, info in movies.items() if "Drama" in info["genres"])[:2]
    other = sorted(m for m, info in movies.items() if "Drama" not in info["genres"])[:1]
    now = time.time()
    stores.ratings.apply(
        [Event("favourite", 8_500_000 + u, drama[0], 0, now - 600) for u in range(3)]
        + [Event("rating", 8_500_000 + u, other[0], 7, now - 2 * 86400) for u in range(5)]
        + [Event("rating", 8_500_010, drama[1], 3, now - 3600)])
    svc = client.application.extensions["movierec"]
    svc.trending = TrendingCache(svc.counters)  # as a process starting now reads it
    day = client.get("/v1/movies/trending?window=24h").get_json()
    assert [(i["movie_id"], i["score"]) for i in day["items"]] == [(drama[0], 3.0), (drama[1], 1.0)]
    assert day["items"][0]["reason"] == "rated or favoured 3 times in the last 24 hours"
    week = client.get("/v1/movies/trending?window=7d&n=2").get_json()["items"]
    assert [i["movie_id"] for i in week] == [other[0], drama[0]]
    dramas = client.get("/v1/movies/trending?window=7d&genre=drama&offset=1").get_json()["items"]
    assert [i["movie_id"] for i in dramas] == [drama[1]]
    response = client.get("/v1/movies/trending?window=1y")
    assert response.status_code == 400 and response.get_json()["field"] == "window"


def test_excluded_movies_leave_a_list_as_long(world):
    client, stores, _ = world
    user = known_user(stores, 5)
    for url in ("/v1/movies/popular?n=6", f"/v1/users/{user}/recommendations?n=6&strategy=cluster"):
        first = [i["movie_id"] for i in client.get(url).get_json()["items"]]
        rest = client.get(f"{url}&exclude={','.join(map(str, first[:4]))}").get_json()["items"]
        assert [i["movie_id"] for i in rest][:2] == first[4:] and len(rest) == 6, url


def genres_in(items):
    return len({genre for item in items for genre in item["genres"]})


@pytest.mark.parametrize("strategy", ["personal", "hybrid", "cluster"])
def test_a_diversified_list_varies_its_genres_and_pages_on(world, strategy):
    client, stores, _ = world
    user = known_user(stores, 6)
    url = f"/v1/users/{user}/recommendations?strategy={strategy}"
    ranked = client.get(f"{url}&n=10").get_json()["items"]
    varied = client.get(f"{url}&n=10&diversity=1").get_json()["items"]
    assert [i["movie_id"] for i in varied] != [i["movie_id"] for i in ranked]
    assert genres_in(varied) > genres_in(ranked)
    assert client.get(f"{url}&n=10&diversity=0").get_json()["items"] == ranked
    pages = [client.get(f"{url}&n=5&offset={offset}&diversity=1").get_json()["items"]
             for offset in (0, 5)]
    assert [i["movie_id"] for page in pages for i in page] == [i["movie_id"] for i in varied]


@pytest.mark.parametrize("raw", ["2", "-0.1", "lots", "nan", ""])
def test_a_diversity_outside_0_to_1_is_a_400_naming_it(world, raw):
    client, stores, _ = world
    response = client.get(f"/v1/users/{known_user(stores)}/recommendations?diversity={raw}")
    assert response.status_code == 400
    assert response.get_json()["field"] == "diversity"
    assert "from 0 to 1" in response.get_json()["reason"]


def test_a_prediction_from_a_version_discarded_since_it_was_loaded_is_a_503_to_retry(
        tiny_data, tiny_bundle):
    """A process reads a version's rating model on its first prediction: if the version was
    discarded in between (replaced and pruned), the client is told to retry, which meets
    the version that replaced it."""
    import fakeredis

    client = fakeredis.FakeRedis()
    stores = load_and_publish(client, "gone", tiny_data, tiny_bundle)
    api = keyed(create_app(with_keys(Settings(key_prefix="gone")), redis_client=client)
                .test_client())
    user = known_user(stores)
    assert api.get(f"/v1/users/{user}/recommendations").status_code == 200  # loads the version
    for key in client.scan_iter(match=stores.keys.model_chunk_pattern(tiny_bundle.version)):
        client.delete(key)
    movie = int(tiny_bundle.arrays["movie_ids"][0])
    response = api.get(f"/v1/users/{user}/predictions?movie_id={movie}")
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.get_json()["error"] == "unavailable"
