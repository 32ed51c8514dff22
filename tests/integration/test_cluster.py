"""The service on a real three-master Redis Cluster, its RQ queues on a plain Redis: events in
through the API, applied by real worker processes, lists out; a user deleted; a retrain and a
rollback run by a real retrain worker; readiness and metrics."""
import os
import subprocess
import sys

import pytest

from api import create_app
from shared.config import Settings
from shared.store.client import client_for
from tests.conftest import load_and_publish
from tests.keys import ADMIN_KEY, keyed, with_keys

pytestmark = pytest.mark.integration
PREFIX = "clu"


@pytest.fixture
def world(redis_cluster, tiny_data, tiny_bundle, tmp_path):
    cluster_url, queue_url = redis_cluster
    settings = Settings(redis_url=cluster_url, queue_url=queue_url, key_prefix=PREFIX,
                        queue_name=PREFIX, model_dir=None, min_ratings_to_assign=5)
    client = client_for(settings)
    stores = load_and_publish(client, PREFIX, tiny_data, tiny_bundle,
                              redis_url=cluster_url, queue_url=queue_url)
    api = keyed(create_app(with_keys(settings), redis_client=client).test_client())
    env = dict(os.environ, REDIS_URL=cluster_url, MOVIEREC_QUEUE_URL=queue_url,
               MOVIEREC_PREFIX=PREFIX, MOVIEREC_QUEUE=PREFIX, MIN_RATINGS_TO_ASSIGN="5",
               MOVIEREC_MODEL_DIR=str(tmp_path / "models"), MOVIEREC_GATE_TOLERANCE="0.9",
               K_RANGE="3-5", MIN_CLUSTER_SIZE="4")
    return api, stores, env


def worker(env, *options):
    """Run a real worker process until its queue is empty."""
    result = subprocess.run([sys.executable, "-m", "movierec", "worker", "--burst", *options],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_service_runs_on_a_cluster_with_its_queues_on_a_plain_redis(world):
    api, stores, env = world
    assert {node.port for node in stores.redis.get_primaries()} == {
        int(n.rsplit(":", 1)[1]) for n in env["REDIS_URL"].split("@")[1].split(",")}
    assert stores.events_queue.connection is not stores.redis  # RQ on the plain Redis
    checks = api.get("/readyz").get_json()["checks"]  # ready but for a worker
    assert checks["redis"] == "ok" and checks["model"] == stores.models.active_version()
    assert checks["workers"].startswith("no worker alive")

    # events in: a new user rates five movies; the worker applies them and places the user
    movies = [m for m, _ in stores.counters.popular(40)][-5:]
    response = api.post("/v1/events", json=[
        {"type": "rating", "user_id": 777_001, "movie_id": m, "rating": 4.5} for m in movies])
    assert response.status_code == 202, response.get_json()
    assert stores.events_queue.count == 1 and stores.inbox.length() == 5
    worker(env)
    assert stores.inbox.length() == 0
    assert set(stores.ratings.user_ratings(777_001)) == set(movies)
    version = stores.models.active_version()
    assert stores.counters.cluster_of(version, 777_001) is not None
    body = api.get("/v1/users/777001/recommendations?n=5").get_json()
    assert len(body["items"]) == 5 and not {i["movie_id"] for i in body["items"]} & set(movies)
    popular = api.get("/v1/movies/popular?n=100").get_json()
    assert popular["items"]

    # a user deleted leaves no trace
    assert api.delete("/v1/users/777001").status_code in (200, 204)
    assert stores.ratings.user_ratings(777_001) == {}

    # a retrain and a rollback, each by a real retrain worker
    api.environ_base["HTTP_X_API_KEY"] = ADMIN_KEY
    response = api.post("/v1/admin/retrain")
    assert response.status_code == 202, response.get_json()
    worker(env, "--retrains")
    retrained = stores.models.active_version()
    assert retrained != version
    assert api.post(f"/v1/admin/models/{version}/activate").status_code == 202
    worker(env, "--retrains")
    assert stores.models.active_version() == version

    metrics = api.get("/metrics").get_data(as_text=True)
    applied = [line for line in metrics.splitlines() if line.startswith("movierec_events_applied")]
    assert applied and float(applied[0].split()[-1]) >= 5
    assert f'movierec_active_model{{version="{version}"}} 1.0' in metrics


def test_the_queue_url_is_required_when_the_data_is_on_a_cluster(redis_cluster):
    cluster_url, _ = redis_cluster
    env = {k: v for k, v in os.environ.items() if k != "MOVIEREC_QUEUE_URL"}
    result = subprocess.run([sys.executable, "-m", "movierec", "worker", "--burst"],
                            env=dict(env, REDIS_URL=cluster_url), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "MOVIEREC_QUEUE_URL is required when REDIS_URL names a Redis Cluster" in result.stderr
    assert "Traceback" not in result.stderr
