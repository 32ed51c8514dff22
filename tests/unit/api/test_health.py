import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from api import create_app
from shared.config import Settings
from shared.data.events import Event
from tests.conftest import stores_on
from tests.keys import keyed, with_keys


@pytest.fixture
def client(fake_redis):
    app = create_app(with_keys(Settings(key_prefix="t")), redis_client=fake_redis)
    return keyed(app.test_client())


def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_is_503_until_data_is_loaded_and_a_model_active(client, fake_redis, tiny_data,
                                                               tiny_bundle):
    from shared.store.importer import import_folder
    from trainer.publish import publish

    response = client.get("/readyz")
    assert response.status_code == 503
    assert "no movies loaded" in response.get_json()["checks"]["data"]
    stores = stores_on(fake_redis, "t")
    import_folder(tiny_data, stores.ratings, stores.catalogue, progress=False)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["model"].startswith("no active model")
    publish(tiny_bundle, stores, shrink=5.0, progress=False)
    stores.operations.beat("worker-1")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {
        "redis": "ok", "data": "400 movies", "model": tiny_bundle.version,
        "workers": "1 alive", "inbox": "0 events waiting, the oldest for 0.0 s"}


def test_readyz_fails_without_a_live_worker_or_with_an_old_backlog(client, fake_redis, tiny_data,
                                                                   tiny_bundle):
    from shared.store.importer import import_folder
    from trainer.publish import publish

    stores = stores_on(fake_redis, "t")
    import_folder(tiny_data, stores.ratings, stores.catalogue, progress=False)
    publish(tiny_bundle, stores, shrink=5.0, progress=False)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["workers"].startswith("no worker alive")
    stores.operations.beat("worker-1")
    assert client.get("/readyz").status_code == 200
    limit = client.application.extensions["movierec"].settings.max_inbox_age
    stores.inbox.push([Event("rating", 1, 1, 8, 1.0)], now=time.time() - limit - 5)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["inbox"].startswith("1 events waiting, the oldest for 6")
    assert f"over the {limit:g} s allowed" in response.get_json()["checks"]["inbox"]
    stores.inbox.drain(dict.fromkeys(range(stores.keys.partitions), 100))
    assert stores.inbox.length() == 0
    assert client.get("/readyz").status_code == 200


def test_readyz_names_a_version_it_cannot_load_and_the_one_it_serves(client, fake_redis,
                                                                     tiny_data, tiny_bundle):
    import dataclasses

    from shared.store.importer import import_folder
    from trainer.publish import publish

    stores = stores_on(fake_redis, "t")
    models = stores.models
    import_folder(tiny_data, stores.ratings, stores.catalogue, progress=False)
    models.save(dataclasses.replace(tiny_bundle, version="broken"))
    fake_redis.set(models.keys.model_chunk("broken", 0), b"truncated")
    models.activate("broken")
    response = client.get("/readyz")
    assert response.status_code == 503  # nothing to serve at all
    assert "broken cannot be loaded" in response.get_json()["checks"]["model"]
    publish(tiny_bundle, stores, shrink=5.0, progress=False)
    stores.operations.beat("worker-1")
    client.application.extensions["movierec"].models.check_every = 0
    assert client.get("/readyz").status_code == 200
    models.activate("broken")
    response = client.get("/readyz")
    assert response.status_code == 200  # still serving the version it has
    assert response.get_json()["checks"]["model"].endswith(f"serving {tiny_bundle.version} instead")
    recommended = client.get("/v1/users/1/recommendations").get_json()
    assert recommended["model_version"] == tiny_bundle.version


def test_readyz_reports_unreachable_redis_without_a_traceback():
    dead = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    client = keyed(create_app(with_keys(Settings()), redis_client=dead).test_client())
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not_ready" and body["checks"]["redis"].startswith("unreachable")


def test_unknown_route_is_a_json_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_every_answer_carries_a_request_id_the_client_may_choose(client):
    mine = client.get("/healthz", headers={"X-Request-ID": "client-42.a"})
    assert mine.headers["X-Request-ID"] == "client-42.a"
    made = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(made) == 3 and all(len(rid) == 32 for rid in made)
    hostile = client.get("/nope", headers={"X-Request-ID": "x" * 500})
    assert hostile.status_code == 404 and len(hostile.headers["X-Request-ID"]) == 32


def test_a_worker_loads_the_catalogue_and_the_version_before_it_serves(fake_redis, tiny_data,
                                                                       tiny_bundle):
    from shared.store.importer import import_folder
    from trainer.publish import publish

    stores = stores_on(fake_redis, "t")
    import_folder(tiny_data, stores.ratings, stores.catalogue, progress=False)
    publish(tiny_bundle, stores, shrink=5.0, progress=False)
    services = create_app(with_keys(Settings(key_prefix="t")),
                          redis_client=fake_redis).extensions["movierec"]
    reads = []
    all_movies = services.catalogue.all_movies
    services.catalogue.all_movies = lambda: reads.append("catalogue") or all_movies()
    services.warm()
    assert reads == ["catalogue"] and services.models._model.version == tiny_bundle.version
    services.catalogue_cache.movies_many([1])
    assert reads == ["catalogue"]  # the first request finds it loaded


def test_a_worker_that_finds_redis_away_serves_and_loads_later():
    gone = redis.Redis(port=1, retry=Retry(NoBackoff(), 0), socket_connect_timeout=0.2)
    services = create_app(with_keys(Settings(key_prefix="t")),
                          redis_client=gone).extensions["movierec"]
    services.warm()  # logged, not raised
    assert services.models._model is None
