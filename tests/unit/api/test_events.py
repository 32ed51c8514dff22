import json
import time

import pytest

from api import create_app
from shared.config import Settings
from shared.store.keys import Keys
from shared.store.queue import DRAIN_EVENTS_JOB, events_queue
from tests.conftest import stored_keys
from tests.keys import keyed, with_keys

SETTINGS = with_keys(Settings(key_prefix="t"))


@pytest.fixture
def app(fake_redis):
    return create_app(SETTINGS, redis_client=fake_redis)


@pytest.fixture
def queue(fake_redis):
    return events_queue(fake_redis, SETTINGS)


def post(client, body, **kwargs):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    kwargs.setdefault("content_type", "application/json")
    return client.post("/v1/events", data=data, **kwargs)


def inbox(fake_redis):
    """Every partition's waiting items (the Keys the app's Stores use: default partitions)."""
    keys = Keys("t")
    return [json.loads(item) for partition in range(keys.partitions)
            for item in fake_redis.lrange(keys.inbox(partition), 0, -1)]


def test_one_event_goes_to_the_inbox_and_claims_a_drain_job(app, queue, fake_redis):
    response = post(keyed(app.test_client()), {"type": "rating", "user_id": 1, "movie_id": 2,
                                         "rating": 4.5, "ts": 10, "event_id": "e"})
    assert response.status_code == 202 and response.get_json() == {"accepted": 1}
    (item,) = inbox(fake_redis)
    keys = Keys("t")  # in user 1's partition
    assert fake_redis.llen(keys.inbox(keys.partition_of(1))) == 1
    assert item[:6] == ["rating", "1", "2", 9, 10.0, "e"]  # the wire form, then when accepted
    assert abs(item[6] - time.time()) < 5
    assert queue.count == 1 and queue.jobs[0].func_name == DRAIN_EVENTS_JOB
    assert queue.jobs[0].args == [] and queue.jobs[0].kwargs == {"lane": 0}


def test_many_requests_share_one_drain_job(app, queue, fake_redis):
    client = keyed(app.test_client())
    for movie in range(1, 6):
        response = post(client, {"type": "favourite", "user_id": 1, "movie_id": movie})
        assert response.status_code == 202
    batch = [{"type": "favourite", "user_id": 2, "movie_id": m} for m in range(1, 1001)]
    response = post(client, batch)
    assert response.status_code == 202 and response.get_json()["accepted"] == 1000
    assert len(inbox(fake_redis)) == 1005
    assert queue.count == 1


@pytest.mark.parametrize("body, field, index", [
    ([{"type": "favourite", "user_id": 1, "movie_id": 1},
      {"type": "rating", "user_id": 1, "movie_id": 1, "rating": 3.7}], "rating", 1),
    ({"type": "rating", "user_id": -3, "movie_id": 1, "rating": 3}, "user_id", None),
    ({"type": "hate", "user_id": 3, "movie_id": 1}, "type", None),
    ([{"type": "favourite", "user_id": 1, "movie_id": 1}] * 1001, "body", None),
    ([], "body", None),
    ("{not json", "body", None),
    ('"a string"', "body", None),
])
def test_bad_requests_are_400_naming_the_field_and_store_nothing(app, queue, fake_redis,
                                                                 body, field, index):
    before = stored_keys(fake_redis)
    response = post(keyed(app.test_client()), body)
    assert response.status_code == 400
    payload = response.get_json()
    assert payload["field"] == field and payload["reason"]
    assert payload.get("index") == index
    assert queue.count == 0 and stored_keys(fake_redis) == before
    assert inbox(fake_redis) == []


def test_wrong_content_type_is_400(app, queue):
    response = keyed(app.test_client()).post("/v1/events", data="x", content_type="text/plain")
    assert response.status_code == 400 and response.get_json()["field"] == "body"
    assert queue.count == 0


def test_body_over_one_mebibyte_is_413_as_json(app, queue):
    response = post(keyed(app.test_client()), b"[" + b" " * (1024 * 1024) + b"]")
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"
    assert queue.count == 0
