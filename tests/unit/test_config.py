import os
from pathlib import Path

import pytest

from shared import config


def test_defaults_run_on_one_machine():
    settings = config.load({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.port == 8000 and settings.min_ratings_to_assign == 5
    assert settings.model_dir == Path("var/models") and settings.k_range == (5, 14)
    assert settings.api_workers == (os.cpu_count() or 1) + 1 >= 2
    assert settings.api_worker_class == "gevent"


def test_environment_overrides():
    settings = config.load({"REDIS_URL": "redis://r:1/2", "PORT": "9000", "K_RANGE": "3-7",
                            "MOVIEREC_VAR_DIR": "/tmp/v", "MIN_CLUSTER_SIZE": "9",
                            "API_WORKERS": "7", "API_WORKER_CLASS": "sync"})
    assert settings.redis_url == "redis://r:1/2" and settings.port == 9000
    assert settings.k_range == (3, 7) and settings.min_cluster_size == 9
    assert settings.model_dir == Path("/tmp/v/models") and settings.api_workers == 7
    assert settings.api_worker_class == "sync"


@pytest.mark.parametrize("env, message", [
    ({"PORT": "eighty"}, "PORT must be an integer"),
    ({"K_RANGE": "7"}, "K_RANGE must look like"),
    ({"K_RANGE": "9-3"}, "K_RANGE needs 2 <= low <= high"),
    ({"API_WORKER_CLASS": "eventlet"}, "API_WORKER_CLASS must be one of gevent, sync, got 'eventlet'"),
])
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        config.load(env)
