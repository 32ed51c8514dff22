"""Events in through the API, applied by real `movierec worker` processes on a real Redis,
recommendations out: the online half end to end."""
import os
import subprocess
import sys
import time

import pytest
import redis

from api import create_app
from shared.config import Settings
from shared.recsys.served import LiveModel
from shared.store.counters import CounterStore
from shared.store.models import ModelStore
from tests.conftest import load_and_publish, over_partitions, stored_keys, stores_on
from tests.keys import keyed, with_keys

pytestmark = pytest.mark.integration
PREFIX = "live"


@pytest.fixture
def world(redis_url, tiny_data, tiny_bundle):
    client = redis.Redis.from_url(redis_url)
    store = load_and_publish(client, PREFIX, tiny_data, tiny_bundle).ratings
    settings = Settings(redis_url=redis_url, key_prefix=PREFIX, min_ratings_to_assign=5)
    api = keyed(create_app(with_keys(settings), redis_client=client).test_client())
    return api, store, redis_url


def drain(redis_url):
    """Run a real worker process until the queue is empty."""
    env = dict(os.environ, REDIS_URL=redis_url, MOVIEREC_PREFIX=PREFIX, MIN_RATINGS_TO_ASSIGN="5")
    result = subprocess.run([sys.executable, "-m", "movierec", "worker", "--burst"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def popular(store, limit):
    """The ids of the ``limit`` movies most users favour, most first."""
    return [movie for movie, _ in CounterStore(store.redis, store.keys).popular(limit)]


def counters(store):
    """Every stored counter (the partitions' hashes and sorted sets, each merged into one)."""
    r, k = store.redis, store.keys
    version = ModelStore(r, k).active_version()
    sizes = over_partitions(r, k.cluster_sizes, k.partitions, version)
    clusters = {}
    for c in sizes:
        clusters[c] = (r.hgetall(k.cluster_counts(version, c.decode())),
                       r.hgetall(k.cluster_sums(version, c.decode())),
                       r.zrange(k.cluster_favourites(version, c.decode()), 0, -1, withscores=True))
    return (over_partitions(r, k.movie_counts, k.partitions),
            over_partitions(r, k.movie_sums, k.partitions),
            over_partitions(r, k.popular, k.partitions),
            over_partitions(r, k.user_counts, k.partitions),
            over_partitions(r, k.assignments, k.partitions, version), sizes, clusters)


def post(api, body):
    response = api.post("/v1/events", json=body)
    assert response.status_code == 202, response.get_json()
    return response


def test_a_rating_changes_counts_and_recommendations(world):
    api, store, redis_url = world
    user = next(iter(store.iter_user_ids()))
    before = api.get(f"/v1/users/{user}/recommendations?strategy=cluster&n=5").get_json()
    top = before["items"][0]
    cluster_key = store.keys.cluster_favourites(before["model_version"], before["cluster"])
    post(api, {"type": "rating", "user_id": user, "movie_id": top["movie_id"], "rating": 5.0})
    drain(redis_url)
    assert store.redis.zscore(cluster_key, top["movie_id"]) == top["score"] + 1
    after = api.get(f"/v1/users/{user}/recommendations?strategy=cluster&n=5").get_json()
    assert top["movie_id"] not in [item["movie_id"] for item in after["items"]]


def personal_list(api, user, n=10):
    body = api.get(f"/v1/users/{user}/recommendations?n={n}").get_json()
    assert body["strategy"] == "personal"
    return body


def test_a_new_rating_changes_the_personal_list_before_any_retrain(world):
    api, store, redis_url = world
    user = next(iter(store.iter_user_ids()))
    before = personal_list(api, user)
    ids = [item["movie_id"] for item in before["items"]]
    assert len(ids) == 10 and not set(ids) & set(store.user_ratings(user))
    top = ids[0]
    post(api, {"type": "rating", "user_id": user, "movie_id": top, "rating": 5.0})
    drain(redis_url)
    after = personal_list(api, user)
    assert after["model_version"] == before["model_version"]  # the same version, no retrain
    now = [item["movie_id"] for item in after["items"]]
    assert top not in now and not set(now) & set(store.user_ratings(user))
    assert ([item["score"] for item in after["items"]]
            != [item["score"] for item in before["items"][1:]])


def test_a_new_user_has_a_personal_list_after_one_rating(world):
    api, store, redis_url = world
    new_user = 10**7 + 2
    assert personal_list(api, new_user)["fallback"] == "popular"
    movie = popular(store, 1)[0]
    post(api, {"type": "rating", "user_id": new_user, "movie_id": movie, "rating": 5.0})
    drain(redis_url)
    body = personal_list(api, new_user)
    assert body["fallback"] is None and body["cluster"] is None  # one rating: no cluster yet
    assert movie not in [item["movie_id"] for item in body["items"]]
    title = stores_on(store.redis, PREFIX).catalogue.movie(movie)["title"]
    explained = [item for item in body["items"] if "because" in item]
    assert explained and all(item["because"] == {"movie_id": movie, "rating": 5.0, "title": title}
                             and item["reason"] == f"because you rated {title} 5 stars"
                             for item in explained)


def test_duplicate_and_reordered_events_change_nothing(world):
    api, store, redis_url = world
    user = next(iter(store.iter_user_ids()))
    movie = popular(store, 51)[50]
    batch = [{"type": "rating", "user_id": user, "movie_id": movie, "rating": 2.0, "ts": 1.75e9,
              "event_id": "x-1"},
             {"type": "favourite", "user_id": user, "movie_id": movie, "ts": 1.75e9 + 5,
              "event_id": "x-2"}]
    post(api, batch)
    drain(redis_url)
    state = counters(store), store.user_ratings(user)
    post(api, batch)                                     # delivered again
    post(api, list(reversed(batch)))                     # and out of order
    post(api, {"type": "rating", "user_id": user, "movie_id": movie, "rating": 5.0, "ts": 1e9})
    drain(redis_url)
    assert (counters(store), store.user_ratings(user)) == state


def test_bad_input_gets_its_status_and_stores_nothing(world):
    api, store, _ = world
    before = stored_keys(store.redis)
    queue_len = store.redis.llen("rq:queue:movierec-events")
    cases = [
        ([{"type": "rating", "user_id": 1, "movie_id": 1, "rating": 4},
          {"type": "rating", "user_id": 1, "movie_id": 1, "rating": 6}], 400),
        ({"type": "rating", "user_id": "one", "movie_id": 1, "rating": 4}, 400),
        ({"type": "rating", "user_id": 1, "movie_id": 1, "rating": 4.2}, 400),
        ({"type": "share", "user_id": 1, "movie_id": 1}, 400),
    ]
    for body, status in cases:
        assert api.post("/v1/events", json=body).status_code == status
    assert api.post("/v1/events", data="{", content_type="application/json").status_code == 400
    huge = b"[" + b"1," * (600 * 1024) + b"1]"
    assert api.post("/v1/events", data=huge, content_type="application/json").status_code == 413
    assert store.redis.llen("rq:queue:movierec-events") == queue_len
    assert stored_keys(store.redis) == before


def test_a_new_user_is_assigned_by_the_classifier(world):
    api, store, redis_url = world
    version = ModelStore(store.redis, store.keys).active_version()
    model = LiveModel(ModelStore(store.redis, store.keys).load(version))
    movies = popular(store, 6)
    new_user = 10**7
    events = [{"type": "rating", "user_id": new_user, "movie_id": m, "rating": r}
              for m, r in zip(movies, [5.0, 4.5, 1.0, 2.0, 4.0, 3.5])]
    assigned = store.keys.assignments(version, store.keys.partition_of(new_user))
    post(api, events[:4])
    drain(redis_url)
    assert store.redis.hget(assigned, new_user) is None  # 4 < 5 ratings
    post(api, events[4:])
    drain(redis_url)
    expected = model.assign_cluster({m: e["rating"] for m, e in zip(movies, events)})
    assert int(store.redis.hget(assigned, new_user)) == expected
    counts = store.redis.hgetall(store.keys.cluster_counts(version, expected))
    assert all(int(counts[str(m).encode()]) >= 1 for m in movies)
    body = api.get(f"/v1/users/{new_user}/recommendations").get_json()
    assert body["cluster"] == expected and body["fallback"] is None


def test_deleting_a_user_removes_every_trace(world):
    api, store, redis_url = world
    before = counters(store)
    new_user = 10**7 + 1
    movies = popular(store, 7)
    post(api, [{"type": "rating", "user_id": new_user, "movie_id": m, "rating": 4.5}
               for m in movies])
    drain(redis_url)
    assert counters(store) != before
    assert api.delete(f"/v1/users/{new_user}").status_code == 200
    after = counters(store)
    # counters return to their values (entries that became zero stay as zeros)
    def nonzero(state):
        n, sums, pop, per_user, assign, sizes, clusters = state

        def strip(h):
            return {k: v for k, v in h.items() if v not in (b"0", 0.0)}

        return (strip(n), strip(sums), strip(pop), strip(per_user), assign,
                strip(sizes), {c: (strip(a), strip(b), [x for x in z if x[1]])
                               for c, (a, b, z) in clusters.items()})
    assert nonzero(after) == nonzero(before)
    assert store.redis.keys(f"*:u:{new_user}*") == []
    assert api.get(f"/v1/users/{new_user}").status_code == 404


def test_events_posted_now_make_a_movie_trend_once_a_worker_applies_them(world):
    """Real workers count the events of the last day and week of event time; events stamped
    a fortnight ago make nothing trend."""
    api, store, redis_url = world
    movies = sorted(store.redis.hkeys(store.keys.movie_counts(0)), key=int)[:2]
    fresh, stale = int(movies[0]), int(movies[1])
    users = range(8_700_001, 8_700_005)
    fortnight_ago = time.time() - 14 * 86400
    post(api, [{"type": "favourite", "user_id": u, "movie_id": fresh} for u in users]
         + [{"type": "rating", "user_id": u, "movie_id": stale, "rating": 4.0,
             "ts": fortnight_ago} for u in users])
    assert api.get("/v1/movies/trending").get_json()["items"] == []  # not applied yet
    drain(redis_url)
    for window in ("24h", "7d"):
        assert trending_within(api, window, seconds=3) == [(fresh, 4.0)], window


def test_a_movie_released_after_the_version_rises_onto_the_home_screen(world):
    """A movie the version has never seen, rated now by a few users, reaches a user's home
    screen once a real worker applies the events: below the trending row, which a movie the
    version ranks fills, in the row of what the personal row cannot show yet."""
    api, store, redis_url = world
    model = api.application.extensions["movierec"].models.get()
    user = next(iter(store.iter_user_ids()))
    rated = set(store.user_ratings(user))
    known = next(m for m in model.movies.ids.tolist() if m not in rated and model.ranks([m])[0])
    released = 9_100_001
    assert not model.ranks([released])[0]
    post(api, [{"type": "favourite", "user_id": u, "movie_id": known}
               for u in range(8_710_001, 8_710_009)]
         + [{"type": "rating", "user_id": u, "movie_id": released, "rating": 4.5}
            for u in range(8_710_001, 8_710_008)])
    drain(redis_url)
    # the process reads trending again about once a second; the screen, once made, is cached
    assert trending_within(api, "7d", seconds=3, first=known)[:2] == [(known, 8.0),
                                                                     (released, 7.0)]
    rows = {row["kind"]: row for row in api.get(f"/v1/users/{user}/rows?n=1").get_json()["rows"]}
    assert [item["movie_id"] for item in rows["trending"]["items"]] == [known]
    assert [item["movie_id"] for item in rows["rising"]["items"]] == [released]
    assert rows["rising"]["items"][0]["reason"].startswith("rated or favoured 7 times")


def trending_within(api, window, seconds, first=None):
    """The trending movies of ``window`` once they are not empty (and begin with ``first``,
    when given): the API reads them again about once a second, in the background (the answer
    before that is the list it had)."""
    deadline = time.monotonic() + seconds
    while True:
        items = api.get(f"/v1/movies/trending?window={window}").get_json()["items"]
        if (items and (first is None or items[0]["movie_id"] == first)) \
                or time.monotonic() > deadline:
            return [(i["movie_id"], i["score"]) for i in items]
        time.sleep(0.05)
