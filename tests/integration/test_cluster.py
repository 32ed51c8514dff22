"""The service on a real three-master Redis Cluster, its RQ queues on a plain Redis: events in
through the API, applied by real worker processes, lists out; a user deleted; a retrain and a
rollback run by a real retrain worker; readiness and metrics."""
import os
import re
import subprocess
import sys

import pytest

from api import create_app
from shared.config import Settings
from shared.store.client import client_for
from tests.conftest import load_and_publish, over_partitions
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


# ml-latest-small's shape: users, movies, ratings
ML_SMALL_SHAPE = (610, 9742, 100_836)
USER_KEY = re.compile(rb"^\{" + PREFIX.encode() + rb":p(\d+)(?:\.\d+)?\}:u:(\d+)$")


@pytest.fixture(scope="module")
def ml_small_like(tmp_path_factory):
    """A generated folder of ml-latest-small's shape (610 users, 9,742 movies, 100,836
    ratings)."""
    from shared.data.synthetic import generate

    out = tmp_path_factory.mktemp("ml-small-like")
    generate(out, *ML_SMALL_SHAPE, seed=3)
    return out


def crossslot_errors(primaries) -> dict[str, int]:
    """The CROSSSLOT errors each master answered since its stats were reset, by node."""
    return {node.name: int(node.redis_connection.info("errorstats")
                           .get("errorstat_CROSSSLOT", {}).get("count", 0))
            for node in primaries}


def test_an_import_spreads_the_users_over_every_master_and_no_command_crosses_slots(
        redis_cluster, ml_small_like, tmp_path):
    from shared.data import movielens
    from tests.conftest import stores_on

    cluster_url, queue_url = redis_cluster
    settings = Settings(redis_url=cluster_url, queue_url=queue_url, key_prefix=PREFIX,
                        queue_name=PREFIX, model_dir=None, min_ratings_to_assign=5)
    client = client_for(settings)
    primaries = client.get_primaries()
    assert len(primaries) == 3
    for node in primaries:
        node.redis_connection.config_resetstat()
    env = dict(os.environ, REDIS_URL=cluster_url, MOVIEREC_QUEUE_URL=queue_url,
               MOVIEREC_PREFIX=PREFIX, MOVIEREC_QUEUE=PREFIX, MIN_RATINGS_TO_ASSIGN="5",
               MOVIEREC_MODEL_DIR=str(tmp_path / "models"), K_RANGE="3-5")
    for command in (["import", str(ml_small_like)], ["train"]):
        result = subprocess.run([sys.executable, "-m", "movierec", *command], env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    stores = stores_on(client, PREFIX, redis_url=cluster_url, queue_url=queue_url)
    keys = stores.keys
    data = movielens.load(ml_small_like)
    imported = set(data.ratings["user_id"].unique().tolist())
    assert len(imported) == ML_SMALL_SHAPE[0]

    # every user's hash is on the master of its partition's slot, a partition on one master,
    # and each master holds the keys of some partitions: 16 over 3 masters of even slot
    # ranges, 5 or 6 each
    partitions_of: dict[str, set[int]] = {}
    users_of: dict[str, set[int]] = {}
    for node in primaries:
        partitions_of[node.name], users_of[node.name] = set(), set()
        for key in node.redis_connection.scan_iter(match=f"{{{PREFIX}:p*}}:u:*", count=1000):
            match = USER_KEY.match(key)
            if match is None:
                continue  # a live view or a log
            partition, user = int(match[1]), int(match[2])
            assert key.decode() == keys.user(user) and keys.partition_of(user) == partition
            partitions_of[node.name].add(partition)
            users_of[node.name].add(user)
    assert all(users_of.values()), {name: len(users) for name, users in users_of.items()}
    assert set().union(*users_of.values()) == imported
    assert sum(len(users) for users in users_of.values()) == len(imported)
    assert sorted(len(p) for p in partitions_of.values()) == [5, 5, 6]
    assert set().union(*partitions_of.values()) == set(range(keys.partitions))
    for node in primaries:  # a partition's own keys live beside its users' keys
        for partition in partitions_of[node.name]:
            assert node.redis_connection.exists(keys.users(partition), keys.user_counts(partition),
                                                keys.user_revisions(partition)) == 3
            users = {int(u) for u in node.redis_connection.smembers(keys.users(partition))}
            assert users == {u for u in users_of[node.name] if keys.partition_of(u) == partition}
            # and so do the partition's movies and their counters
            assert node.redis_connection.exists(keys.movies(partition),
                                                keys.movie_counts(partition)) == 2
            movies = {int(m) for m in node.redis_connection.hkeys(keys.movies(partition))}
            assert {keys.partition_of(m) for m in movies} == {partition}

    # the counters over all users, merged from every partition's deltas
    assert stores.ratings.events_applied() == ML_SMALL_SHAPE[2]
    counts = {int(m): int(n) for m, n in
              over_partitions(client, keys.movie_counts, keys.partitions).items()}
    assert counts == {m: n for m, n in data.ratings.groupby("movie_id").size().items()}
    version = stores.models.active_version()
    assert version is not None
    sizes = {int(c): int(n) for c, n in
             over_partitions(client, keys.cluster_sizes, keys.partitions, version).items()}
    assigned = {int(u) for p in range(keys.partitions)
                for u in client.hkeys(keys.assignments(version, p))}
    assert sum(sizes.values()) == len(assigned) > 0

    # the flows on every master: a new user of each rates five movies, a worker applies the
    # events and places them, they get lists; an imported user of each is deleted
    api = keyed(create_app(with_keys(settings), redis_client=client).test_client())
    movies = [m for m, _ in stores.counters.popular(40)][-5:]
    master_of = {p: name for name, parts in partitions_of.items() for p in parts}
    newcomers, user = {}, 900_000
    while len(newcomers) < len(primaries):
        user += 1
        newcomers.setdefault(master_of[keys.partition_of(user)], user)
    response = api.post("/v1/events", json=[
        {"type": "rating", "user_id": u, "movie_id": m, "rating": 4.5}
        for u in newcomers.values() for m in movies])
    assert response.status_code == 202, response.get_json()
    assert stores.inbox.length() == 5 * len(newcomers)
    worker(env)
    assert stores.inbox.length() == 0
    assert stores.ratings.events_applied() == ML_SMALL_SHAPE[2] + 5 * len(newcomers)
    for u in newcomers.values():
        assert set(stores.ratings.user_ratings(u)) == set(movies)
        assert stores.counters.cluster_of(version, u) is not None
        body = api.get(f"/v1/users/{u}/recommendations?n=5").get_json()
        assert len(body["items"]) == 5 and not {i["movie_id"] for i in body["items"]} & set(movies)
    for name in users_of:
        gone = min(users_of[name])
        assert api.delete(f"/v1/users/{gone}").status_code in (200, 204)
        assert stores.ratings.user_ratings(gone) == {}
        assert not client.exists(keys.user(gone))
    counts = over_partitions(client, keys.movie_counts, keys.partitions)
    assert sum(int(n) for n in counts.values()) == len(stores.ratings.snapshot())

    assert crossslot_errors(primaries) == {node.name: 0 for node in primaries}
