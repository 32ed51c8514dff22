"""Rate limits (api/limits.py): per key, else per client address; 429 with Retry-After."""
import dataclasses
import time

import fakeredis
import pytest

from api import create_app
from shared.config import Settings
from tests.keys import ADMIN_KEY, WRITE_KEY, with_keys


@pytest.fixture(autouse=True)
def one_window():
    """The limits' windows are fixed minutes on the clock: each test runs inside one, so that
    no count starts again mid-test."""
    left = 60 - time.time() % 60
    if left < 5:
        time.sleep(left + 0.05)


def limited_client(per_key="3/minute", per_address="2/minute"):
    settings = dataclasses.replace(with_keys(Settings(key_prefix="t")),
                                   rate_limit_per_key=per_key, rate_limit_per_address=per_address)
    redis_client = fakeredis.FakeRedis()
    return create_app(settings, redis_client=redis_client).test_client(), redis_client


def test_a_key_over_its_limit_gets_429_with_retry_after():
    client, _ = limited_client()
    key = {"X-API-Key": WRITE_KEY}
    statuses = [client.get("/v1/movies/popular", headers=key).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/v1/movies/popular", headers=key)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 61  # the window, rounded up
    assert refused.get_json()["error"] == "rate_limited"
    assert refused.headers["X-Request-ID"]  # refused before the view, still traceable
    # another key, and the address without a key, have limits of their own
    assert client.get("/v1/movies/popular", headers={"X-API-Key": ADMIN_KEY}).status_code == 200
    assert client.get("/v1/movies/popular").status_code == 200


def test_requests_without_a_key_are_limited_by_address():
    client, _ = limited_client()
    assert [client.get("/v1/movies/popular").status_code for _ in range(3)] == [200, 200, 429]
    other = client.get("/v1/movies/popular", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


def test_guessing_keys_counts_against_the_address():
    client, _ = limited_client()
    guesses = [client.post("/v1/events", json={}, headers={"X-API-Key": f"guess-{i}"}).status_code
               for i in range(3)]
    assert guesses == [401, 401, 429]


def test_probes_metrics_and_the_document_are_never_limited():
    client, _ = limited_client(per_address="1/minute")
    answers = {"/healthz": 200, "/readyz": 503, "/metrics": 200, "/openapi.json": 200}
    for _ in range(3):  # (readyz: 503 on an empty store, but never a 429)
        assert {path: client.get(path).status_code for path in answers} == answers


def test_a_url_that_names_no_route_is_limited():
    client, _ = limited_client()
    assert [client.get("/v1/nothing-here").status_code for _ in range(3)] == [404, 404, 429]


def test_a_route_missing_from_the_table_is_limited():
    client, _ = limited_client()
    client.application.add_url_rule("/v1/undeclared", "undeclared", lambda: {"done": True})
    key = {"X-API-Key": ADMIN_KEY}
    statuses = [client.get("/v1/undeclared", headers=key).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_the_counters_live_in_the_stores_redis_under_its_prefix():
    client, redis_client = limited_client()
    client.get("/v1/movies/popular")
    assert any(key.startswith(b"{t}:ratelimit:address:") for key in redis_client.keys())


def test_the_api_processes_share_one_count_give_or_take_a_tenth_each():
    redis_client = fakeredis.FakeRedis()
    settings = dataclasses.replace(with_keys(Settings(key_prefix="t")),
                                   rate_limit_per_key="50/minute")
    processes = [create_app(settings, redis_client=redis_client).test_client() for _ in range(2)]
    key = {"X-API-Key": WRITE_KEY}
    statuses = [processes[i % 2].get("/v1/movies/popular", headers=key).status_code
                for i in range(90)]
    assert 50 <= statuses.count(200) <= 50 + 2 * 5  # alone, each would admit 50
    assert statuses[-10:] == [429] * 10


def test_a_limiter_that_cannot_reach_redis_answers_503_with_the_request_id():
    server = fakeredis.FakeServer()
    settings = with_keys(Settings(key_prefix="t"))
    client = create_app(settings, redis_client=fakeredis.FakeRedis(server=server)).test_client()
    server.connected = False  # the limiter's first sync finds Redis gone
    refused = client.get("/v1/movies/popular", headers={"X-Request-ID": "req-limits-1"})
    assert refused.status_code == 503 and refused.get_json()["error"] == "unavailable"
    assert refused.headers["X-Request-ID"] == "req-limits-1"


def test_a_request_counted_while_a_sync_forgot_its_window_fails_no_later_sync(monkeypatch):
    """Under gevent (or threads), a request whose sync waits on Redis can count against a
    window that another request's sync, meanwhile, found over and forgot; the next sync used
    to fail (a 500) on that count."""
    from api import limits as limits_module

    settings = dataclasses.replace(with_keys(Settings(key_prefix="t")),
                                   rate_limit_per_key="1000/second")
    app = create_app(settings, redis_client=fakeredis.FakeRedis())
    limiter = limits_module.RateLimits(app.extensions["movierec"])
    t0 = 1_000_000.5
    monkeypatch.setattr(limits_module.time, "time", lambda: t0)
    assert limiter.check("k1", None) is None
    [window] = limiter._windows
    real_add, later = limiter._counters.add, []

    def add_while_a_later_sync_runs(counts):
        reply = real_add(counts)
        if not later:  # another request's sync, once the window is over
            later.append(1)
            limiter._sync(t0 + 1.0)
        return reply

    monkeypatch.setattr(limiter._counters, "add", add_while_a_later_sync_runs)
    limiter._next_sync = 0.0
    assert limiter.check("k1", None) is None  # counted against the window just forgotten
    assert window not in limiter._windows and limiter._admitted[window] == 1
    monkeypatch.setattr(limiter._counters, "add", real_add)
    limiter._sync(t0 + 1.1)  # passes the stale count over
    assert window not in limiter._admitted
