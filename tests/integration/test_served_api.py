"""`movierec serve` as deployed: gunicorn with each worker class, a real Redis, real workers.

Concurrent single-event POSTs exercise the group commit (several requests of one gevent
process share a script call); every event must still be applied exactly once."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from shared.config import API_WORKER_CLASSES
from tests.conftest import load_and_publish
from tests.keys import ADMIN_KEY, KEYS_ENV, WRITE_KEY

pytestmark = pytest.mark.integration
PREFIX = "served"
ANONYMOUS_LIMIT = 6  # requests a minute from an address without a key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(port, method, path, body=None, request_id=None, key=WRITE_KEY, reply_headers=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {**({"X-API-Key": key} if key else {}),
                   **({"X-Request-ID": request_id} if request_id else {})}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=headers)
        response = conn.getresponse()
        if reply_headers:
            return response.status, response.read(), dict(response.getheaders())
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture(params=API_WORKER_CLASSES)
def served(request, redis_url, tiny_data, tiny_bundle, tmp_path):
    client = redis.Redis.from_url(redis_url)
    stores = load_and_publish(client, PREFIX, tiny_data, tiny_bundle)
    port = free_port()
    env = dict(os.environ, **KEYS_ENV, REDIS_URL=redis_url, MOVIEREC_PREFIX=PREFIX,
               MOVIEREC_RATE_LIMIT_PER_ADDRESS=f"{ANONYMOUS_LIMIT}/minute")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "movierec", "serve", "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", "2",
                                 "--worker-class", request.param],
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                # ready but for the workers, which the tests start themselves (or not)
                status, body = call(port, "GET", "/readyz")
                checks = json.loads(body)["checks"]
                if checks.get("model") == tiny_bundle.version and "workers" in checks:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "movierec serve did not become ready"
            time.sleep(0.1)
        yield port, stores, env, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_concurrent_single_event_posts_are_each_applied_once(served):
    port, stores, env, _ = served
    store = stores.ratings
    events = [{"type": "rating", "user_id": 9_000_000 + i % 20, "movie_id": movie,
               "rating": 0.5 + (i % 10) / 2, "event_id": f"served-{i}"}
              for i, movie in enumerate(sorted(stores.catalogue.all_movies())[:200])]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda e: call(port, "POST", "/v1/events", e), events))
    assert all(status == 202 and json.loads(body) == {"accepted": 1}
               for status, body in statuses), statuses[:3]
    assert stores.inbox.length() == len(events)
    result = subprocess.run([sys.executable, "-m", "movierec", "worker", "--burst"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert stores.inbox.length() == 0
    applied = {}
    for user in range(9_000_000, 9_000_020):
        applied.update({(user, m): r for m, (r, *_) in store.user_ratings(user).items()})
    assert applied == {(e["user_id"], e["movie_id"]): e["rating"] for e in events}


def test_a_cached_recommendation_is_served_as_computed(served):
    port, stores, _, _ = served
    store = stores.ratings
    user = next(iter(store.iter_user_ids()))
    first = call(port, "GET", f"/v1/users/{user}/recommendations?n=5")
    # no other lookup comes: the process's write-behind thread keeps the list on its own
    deadline = time.monotonic() + 2
    while not store.redis.exists(store.keys.recommendations_cache(user)):
        assert time.monotonic() < deadline, "the computed list was never kept"
        time.sleep(0.005)
    again = call(port, "GET", f"/v1/users/{user}/recommendations?n=5")
    assert first[0] == again[0] == 200
    assert json.loads(first[1]) == json.loads(again[1])
    assert len(json.loads(first[1])["items"]) == 5


def test_genre_rows_page_and_follow_a_catalogue_edit_in_every_process(served):
    """Through gunicorn: a genre row's pages make the longer row with no repeat and no gap;
    a movie given a new genre shows in that genre's row within the catalogue's check (1 s) in
    every API process; a misspelt filter is a 400 naming it."""
    port, stores, _, _ = served
    user = sorted(stores.ratings.iter_user_ids())[2]
    movies = stores.catalogue.all_movies()
    row = f"/v1/users/{user}/recommendations?genre=Drama&year_min=1950"
    status, whole = call(port, "GET", f"{row}&n=12")
    assert status == 200
    whole = [item["movie_id"] for item in json.loads(whole)["items"]]
    pages = [json.loads(call(port, "GET", f"{row}&n=4&offset={k * 4}")[1])["items"]
             for k in range(3)]
    assert [item["movie_id"] for page in pages for item in page] == whole and len(whole) == 12
    assert all("Drama" in movies[m]["genres"] and movies[m]["year"] >= 1950 for m in whole)

    edited = next(m for m in sorted(movies) if m not in stores.ratings.user_ratings(user))
    status, _ = call(port, "PUT", f"/v1/movies/{edited}",
                     {**{k: movies[edited][k] for k in ("title", "year", "tags")},
                      "genres": ["Mockumentary"]}, key=ADMIN_KEY)
    assert status == 200
    time.sleep(1.2)  # each process checks the catalogue's revision at least once a second
    for _ in range(6):  # requests spread over both API processes
        status, body = call(port, "GET", f"/v1/users/{user}/recommendations?genre=mockumentary")
        assert status == 200 and [i["movie_id"] for i in json.loads(body)["items"]] == [edited]
    status, body = call(port, "GET", f"/v1/users/{user}/recommendations?genres=Drama")
    assert status == 400 and json.loads(body)["field"] == "genres"


def test_a_diversified_list_varies_its_genres_and_pages_on_through_gunicorn(served):
    port, stores, _, _ = served
    user = sorted(stores.ratings.iter_user_ids())[3]
    movies = stores.catalogue.all_movies()
    url = f"/v1/users/{user}/recommendations"

    def listed(query):
        status, body = call(port, "GET", f"{url}?{query}")
        assert status == 200, body
        return [item["movie_id"] for item in json.loads(body)["items"]]

    def genres(ids):
        return len({genre for m in ids for genre in movies[m]["genres"]})

    ranked, varied = listed("n=10"), listed("n=10&diversity=0.8")
    assert varied != ranked and genres(varied) > genres(ranked)
    assert listed("n=5&diversity=0.8") + listed("n=5&offset=5&diversity=0.8") == varied
    status, body = call(port, "GET", f"{url}?diversity=1.5")
    assert status == 400 and json.loads(body)["field"] == "diversity"


def test_a_guest_gets_the_list_of_a_user_with_the_same_ratings_and_leaves_nothing(served):
    port, stores, _, _ = served
    user = sorted(stores.ratings.iter_user_ids())[7]
    ratings = {str(m): r for m, (r, *_) in stores.ratings.user_ratings(user).items()}
    def stored():  # (but the rate limits' counters)
        return {k for k in stores.redis.scan_iter() if b":ratelimit:" not in k}

    keys_before = stored()
    status, guest = call(port, "POST", "/v1/recommendations?n=6&genre=Comedy",
                         {"ratings": ratings})
    assert status == 200 and stored() == keys_before  # no list, no user, no key
    status, mine = call(port, "GET", f"/v1/users/{user}/recommendations?n=6&genre=Comedy")
    assert status == 200
    assert json.loads(guest)["items"] == json.loads(mine)["items"]
    assert len(json.loads(guest)["items"]) == 6


def test_a_rollback_reaches_every_api_process_within_a_second(served, tiny_bundle):
    import dataclasses

    from trainer.publish import publish

    port, stores, env, _ = served
    users = sorted(stores.ratings.iter_user_ids())[:40]

    def versions_served() -> set[str]:
        return {json.loads(call(port, "GET", f"/v1/users/{u}/recommendations?n=3")[1])
                ["model_version"] for u in users}

    publish(dataclasses.replace(tiny_bundle, version="v-newer"), stores, shrink=5.0,
            progress=False)
    time.sleep(1.1)
    assert versions_served() == {"v-newer"}
    rollback = subprocess.run([sys.executable, "-m", "movierec", "models", "activate",
                               tiny_bundle.version], env=env, capture_output=True, text=True,
                              timeout=120)
    assert rollback.returncode == 0, rollback.stderr
    time.sleep(1.05)  # each process checks the active pointer at least once a second
    assert versions_served() == {tiny_bundle.version}


def test_the_access_log_is_json_lines_with_the_request_id(served):
    port, stores, _, log = served
    user = next(iter(stores.ratings.iter_user_ids()))
    assert call(port, "GET", f"/v1/users/{user}/recommendations", request_id="trace-me-1")[0] == 200
    deadline, line = time.monotonic() + 5, None
    while line is None and time.monotonic() < deadline:
        time.sleep(0.2)
        for text in log.read_text(errors="replace").splitlines():
            if "trace-me-1" in text:
                line = json.loads(text)
    assert line is not None, "no access line within 5 s"
    assert line["logger"] == "movierec.access" and line["status"] == 200
    assert line["endpoint"] == "users.recommendations" and line["request_id"] == "trace-me-1"
    # the master loaded nothing that gevent's workers patch afterwards (ssl via redis)
    assert "MonkeyPatchWarning" not in log.read_text(errors="replace")


def test_keys_and_limits_across_the_api_processes(served):
    port, _, _, _ = served
    event = {"type": "rating", "user_id": 9_100_000, "movie_id": 1, "rating": 4.0}
    # the limits' windows are fixed minutes on the clock: every request below falls in one
    # (a run that straddled a minute saw the count start again mid-way)
    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.1)
    assert call(port, "POST", "/v1/events", event, key=None)[0] == 401
    assert call(port, "POST", "/v1/events", event, key=KEYS_ENV["MOVIEREC_ADMIN_KEYS"])[0] == 202
    assert call(port, "PUT", "/v1/movies/1", {"title": "x"})[0] == 403  # the write key
    # without a key, the address's limit holds over both gunicorn processes (the POST without
    # a key counts too); a process that has not synced for 0.1 s learns the count first
    statuses = []
    for _ in range(ANONYMOUS_LIMIT + 3):
        statuses.append(call(port, "GET", "/v1/movies/popular", key=None, reply_headers=True))
        time.sleep(0.11)
    codes = [status for status, _, _ in statuses]
    assert codes == [200] * (ANONYMOUS_LIMIT - 1) + [429] * 4, codes
    status, body, headers = statuses[-1]
    assert json.loads(body)["error"] == "rate_limited" and 1 <= int(headers["Retry-After"]) <= 61
    assert call(port, "GET", "/v1/movies/popular")[0] == 200  # a key has a limit of its own


def test_events_no_replica_acknowledges_are_answered_503(redis_url):
    """MOVIEREC_WRITE_REPLICAS=1 on a Redis without a replica: the API waits its timeout, then
    answers 503 with Retry-After, naming why; the events stay on the primary (a retry applies
    them once)."""
    import redis as redis_py

    from api import create_app
    from shared.config import Settings
    from shared.store.keys import Keys
    from tests.keys import keyed, with_keys

    settings = Settings(redis_url=redis_url, key_prefix="wait", queue_name="wait",
                        write_replicas=1, write_replica_timeout_ms=50)
    api = keyed(create_app(with_keys(settings)).test_client())
    response = api.post("/v1/events", json={"type": "rating", "user_id": 1, "movie_id": 1,
                                            "rating": 4.0})
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.get_json()["error"] == "unavailable"
    keys = Keys("wait")  # the store's default partitions
    assert redis_py.Redis.from_url(redis_url).llen(keys.inbox(keys.partition_of(1))) == 1
