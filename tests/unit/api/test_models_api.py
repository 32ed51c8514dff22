"""/v1/models and /v1/admin on a tiny published version (fakeredis); a retrain asked over HTTP
run by an RQ SimpleWorker on the same fake Redis."""
import fakeredis
import pytest
from rq import SimpleWorker

from api import create_app
from shared.config import Settings
from tests.conftest import load_and_publish
from tests.keys import ADMIN_KEY, WRITE_KEY, with_keys

SETTINGS = with_keys(Settings(key_prefix="t", queue_name="q", k_range=(3, 6), min_cluster_size=4))
ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture
def world(tiny_data, tiny_bundle, monkeypatch):
    for name, value in {"MOVIEREC_PREFIX": "t", "MOVIEREC_QUEUE": "q", "K_RANGE": "3-6",
                        "MIN_CLUSTER_SIZE": "4"}.items():
        monkeypatch.setenv(name, value)  # what the job's own config.load() reads
    client = fakeredis.FakeRedis()
    load_and_publish(client, "t", tiny_data, tiny_bundle)
    app = create_app(SETTINGS, redis_client=client)
    return app.test_client(), app.extensions["movierec"], tiny_bundle


def test_the_versions_are_listed_with_their_state_and_numbers(world):
    client, svc, bundle = world
    listed = client.get("/v1/models").get_json()
    assert listed["active"] == bundle.version
    assert [(v["version"], v["active"], v["state"]) for v in listed["versions"]] == \
        [(bundle.version, True, "published")]
    shown = client.get(f"/v1/models/{bundle.version}").get_json()
    assert shown["manifest"]["data"] == bundle.manifest["data"]
    svc.models.store.mark_rebuilding(bundle.version)  # a rollback still placing the users
    assert client.get("/v1/models").get_json()["versions"][0]["state"] == "rebuilding"
    assert client.get(f"/v1/models/{bundle.version}").get_json()["state"] == "rebuilding"
    missing = client.get("/v1/models/nope")
    assert missing.status_code == 404 and missing.get_json()["field"] == "version"


@pytest.mark.parametrize("method, path", [("post", "/v1/admin/retrain"),
                                          ("post", "/v1/admin/models/x/activate"),
                                          ("get", "/v1/admin/jobs/x")])
def test_admin_routes_need_the_admin_key(world, method, path):
    client, svc, _ = world
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = getattr(client, method)(path, headers=headers)
        assert response.status_code == 401 and response.get_json()["field"] == "X-API-Key"
    writer = getattr(client, method)(path, headers={"X-API-Key": WRITE_KEY})
    assert writer.status_code == 403 and "admin key" in writer.get_json()["reason"]
    assert svc.retrain_queue.count == 0


def test_a_retrain_asked_over_http_runs_and_reports_its_stages(world):
    client, svc, bundle = world
    accepted = client.post("/v1/admin/retrain", headers=ADMIN)
    assert accepted.status_code == 202
    status_url = accepted.get_json()["status_url"]
    assert client.get(status_url, headers=ADMIN).get_json()["status"] == "queued"
    SimpleWorker([svc.retrain_queue], connection=svc.redis,
                 serializer=svc.retrain_queue.serializer).work(burst=True)
    done = client.get(status_url, headers=ADMIN).get_json()
    assert done["status"] == "finished" and done["stage"] == "done", done
    new = done["result"]["version"]
    assert client.get("/v1/models").get_json()["active"] == new != bundle.version

    rollback = client.post(f"/v1/admin/models/{bundle.version}/activate", headers=ADMIN)
    assert rollback.status_code == 202
    SimpleWorker([svc.retrain_queue], connection=svc.redis,
                 serializer=svc.retrain_queue.serializer).work(burst=True)
    status = client.get(rollback.get_json()["status_url"], headers=ADMIN).get_json()
    assert status["status"] == "finished"
    assert client.get("/v1/models").get_json()["active"] == bundle.version
    assert client.post("/v1/admin/models/nope/activate", headers=ADMIN).status_code == 404
    assert client.get("/v1/admin/jobs/nope", headers=ADMIN).status_code == 404
