import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from api import create_app
from shared.config import Settings
from shared.store.keys import Keys
from shared.store.ratings import RatingStore


@pytest.fixture
def client(fake_redis):
    app = create_app(Settings(key_prefix="t"), redis_client=fake_redis)
    return app.test_client()


def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_is_503_until_data_is_loaded_and_a_model_active(client, fake_redis, tiny_data,
                                                               tiny_bundle):
    from shared.store.importer import import_folder
    from shared.store.models import ModelStore
    from trainer.publish import publish

    response = client.get("/readyz")
    assert response.status_code == 503
    assert "no movies loaded" in response.get_json()["checks"]["data"]
    store = RatingStore(fake_redis, Keys("t"))
    import_folder(tiny_data, store, progress=False)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["model"].startswith("no active model")
    publish(tiny_bundle, store, ModelStore(fake_redis, Keys("t")), shrink=5.0, progress=False)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"redis": "ok", "data": "400 movies",
                                             "model": tiny_bundle.version}


def test_readyz_reports_unreachable_redis_without_a_traceback():
    dead = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    client = create_app(Settings(), redis_client=dead).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not_ready" and body["checks"]["redis"].startswith("unreachable")


def test_unknown_route_is_a_json_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
