"""``movierec train --engine spark`` as a user runs it: Spark's tasks read the ratings store's
partitions from a real Redis, the version is gated, published and served by the API."""
import os
import subprocess
import sys

import pytest
import redis

from api import create_app
from shared.config import Settings
from shared.store.keys import Keys
from shared.store.models import ModelStore
from tests.keys import keyed, with_keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PREFIX = "sparktrain"


def movierec(env, *args) -> str:
    result = subprocess.run([sys.executable, "-m", "movierec", *args], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_a_spark_retrain_reads_redis_and_its_version_serves(redis_url, tiny_data, tmp_path):
    env = dict(os.environ, REDIS_URL=redis_url, MOVIEREC_PREFIX=PREFIX,
               MOVIEREC_VAR_DIR=str(tmp_path), K_RANGE="3-4", MIN_CLUSTER_SIZE="4",
               MOVIEREC_HOLDOUT_SPLIT="random")
    movierec(env, "import", str(tiny_data))
    out = movierec(env, "train", "--engine", "spark", "--spark-master", "local[2]")
    assert "fitted on Spark (local[2])" in out
    models = ModelStore(redis.Redis.from_url(redis_url), Keys(PREFIX))
    version = models.active_version()
    manifest = models.manifest(version)
    assert manifest["engine"]["name"] == "spark" and manifest["engine"]["master"] == "local[2]"
    # every rating was read from Redis: the served fit's, and the held-out share
    assert manifest["data"]["ratings"] + manifest["holdout"]["held_out"] == 6000
    assert manifest["gate"]["passed"]
    users = models.load(version).arrays["user_ids"]
    api = keyed(create_app(with_keys(Settings(redis_url=redis_url, key_prefix=PREFIX)))
                .test_client())
    reply = api.get(f"/v1/users/{int(users[3])}/recommendations?n=10")
    body = reply.get_json()
    assert reply.status_code == 200 and body["model_version"] == version
    assert len(body["items"]) == 10
