"""GET /metrics: what the API counts, and what it reads from Redis at scrape time (fakeredis)."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from shared.config import Settings
from tests.conftest import load_and_publish
from tests.keys import keyed, with_keys


@pytest.fixture(scope="module")
def client(tiny_data, tiny_bundle):
    import fakeredis

    redis_client = fakeredis.FakeRedis()
    load_and_publish(redis_client, "t", tiny_data, tiny_bundle)
    app = create_app(with_keys(Settings(key_prefix="t")), redis_client=redis_client)
    return keyed(app.test_client())


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for s in family.samples}


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_events_and_the_model_move_the_figures(client, tiny_bundle):
    before = scrape(client)
    assert client.get("/v1/users/1/recommendations").status_code == 200
    assert client.post("/v1/events", json=[{"type": "favourite", "user_id": 1, "movie_id": 2}] * 3
                       ).status_code == 202
    assert client.post("/v1/events", json={"type": "nope"}).status_code == 400
    after = scrape(client)
    get = dict(endpoint="users.recommendations", method="GET", status="200")
    assert value(after, "movierec_http_requests_total", **get) == \
        value(before, "movierec_http_requests_total", **get) + 1
    assert value(after, "movierec_http_request_seconds_count",
                 endpoint="users.recommendations", method="GET") >= 1
    assert value(after, "movierec_events_accepted_total") == \
        value(before, "movierec_events_accepted_total") + 3
    assert value(after, "movierec_events_rejected_total") == \
        value(before, "movierec_events_rejected_total") + 1
    assert value(after, "movierec_inbox_events") == value(before, "movierec_inbox_events") + 3
    assert value(after, "movierec_events_applied_total") == 6000  # the tiny data set's import
    assert value(after, "movierec_dead_letter_items") == 0
    assert value(after, "movierec_active_model", version=tiny_bundle.version) == 1
    assert (value(after, "movierec_model_trained_timestamp_seconds")
            == tiny_bundle.manifest["trained_at"])


def test_the_workers_figures_come_from_redis(tiny_data, tiny_bundle):
    import time

    import fakeredis

    from shared.data.events import Event

    redis_client = fakeredis.FakeRedis()
    stores = load_and_publish(redis_client, "t", tiny_data, tiny_bundle)
    web = create_app(with_keys(Settings(key_prefix="t")), redis_client=redis_client).test_client()
    assert value(scrape(web), "movierec_workers_alive") == 0
    stores.operations.beat("w1")
    stores.inbox.push([Event("rating", 1, 2, 8, 1.0)], now=time.time() - 30)
    for seconds in (0.002, 0.04):
        stores.operations.record_drain_batch(seconds)
    samples = scrape(web)
    assert value(samples, "movierec_workers_alive") == 1
    assert 30 <= value(samples, "movierec_inbox_oldest_event_age_seconds") < 40
    assert value(samples, "movierec_drain_batch_seconds_count") == 2
    assert value(samples, "movierec_drain_batch_seconds_bucket", le="0.0025") == 1
    assert value(samples, "movierec_drain_batch_seconds_bucket", le="+Inf") == 2
    assert abs(value(samples, "movierec_drain_batch_seconds_sum") - 0.042) < 1e-9
