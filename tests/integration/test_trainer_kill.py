"""A trainer SIGKILLed while it builds its version's counters (real Redis, real processes)."""
import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from api import create_app
from shared.config import Settings
from shared.data.events import Event
from shared.store.keys import Keys
from shared.store.models import ModelStore
from shared.store.ratings import RatingStore
from tests.conftest import over_partitions
from tests.keys import keyed, with_keys

pytestmark = pytest.mark.integration
PREFIX, LOCK_SECONDS = "kill", 2


def movierec(env, *args, timeout=300):
    result = subprocess.run([sys.executable, "-m", "movierec", *args], env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_active_version_serves_on_and_the_dead_run_is_swept(redis_url, ml_latest_small,
                                                                tmp_path):
    env = dict(os.environ, REDIS_URL=redis_url, MOVIEREC_PREFIX=PREFIX,
               MOVIEREC_TRAINER_LOCK_SECONDS=str(LOCK_SECONDS), MOVIEREC_VAR_DIR=str(tmp_path),
               MOVIEREC_HOLDOUT_SPLIT="random")  # one fit a retrain: what is killed is publishing
    client, keys = redis.Redis.from_url(redis_url), Keys(PREFIX)
    models, store = ModelStore(client, keys), RatingStore(client, keys)
    movierec(env, "import", str(ml_latest_small))
    movierec(env, "train")
    serving = models.active_version()

    trainer = subprocess.Popen([sys.executable, "-m", "movierec", "train"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not client.exists(keys.building_version) and time.monotonic() < deadline:
        assert trainer.poll() is None, "the trainer ended before it built its counters"
        time.sleep(0.002)
    dead = models.building_version()
    os.kill(trainer.pid, signal.SIGKILL)
    trainer.wait()
    assert dead and dead != serving and models.active_version() == serving

    settings = with_keys(Settings(redis_url=redis_url, key_prefix=PREFIX))
    api = keyed(create_app(settings).test_client())
    reply = api.get("/v1/users/1/recommendations?n=5")
    assert reply.status_code == 200 and reply.get_json()["model_version"] == serving

    time.sleep(LOCK_SECONDS + 0.5)
    assert not client.exists(keys.trainer_lock, keys.building_version)
    dead_sizes = over_partitions(client, keys.cluster_sizes, keys.partitions, dead)
    store.apply([Event("rating", 10_000_001, 1, 10, time.time())])
    store.assign(serving, {10_000_001: 0})
    # no longer kept
    assert over_partitions(client, keys.cluster_sizes, keys.partitions, dead) == dead_sizes

    # the scheduler (here with every schedule off) sweeps what the dead run left
    sweeper = subprocess.Popen([sys.executable, "-m", "movierec", "scheduler"],
                               stderr=subprocess.PIPE, text=True,
                               env=dict(env, MOVIEREC_RETRAIN_EVERY="0",
                                        MOVIEREC_RETRAIN_AFTER_EVENTS="0"))
    try:
        deadline = time.monotonic() + 20
        while dead in models.versions() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sweeper.send_signal(signal.SIGTERM)
        log = sweeper.communicate(timeout=10)[1]
    assert f"discarded {dead}" in log
    assert dead not in models.versions() and not client.keys(f"*{dead}*")
    assert not (tmp_path / "models" / dead).exists()

    movierec(env, "train")
    assert models.active_version() not in (serving, dead)
