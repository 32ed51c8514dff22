import os
from pathlib import Path

import pytest

from shared import config
from shared.recsys.placement import Placement


def test_defaults_run_on_one_machine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no var/redis.url of a running `make run` here
    settings = config.load({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.port == 8000 and settings.min_ratings_to_assign == 5
    assert settings.model_dir == Path("var/models") and settings.k_range == (5, 14)
    assert settings.api_workers == (os.cpu_count() or 1) + 1 >= 2
    assert settings.api_worker_class == "gevent"
    assert not settings.redis_url_given and settings.private_redis_port == 6390
    assert settings.allow_apt and settings.redis_url_source == "default"
    assert settings.host == "127.0.0.1"  # a laptop in a café serves nobody else
    assert settings.placement == Placement(min_ratings=5, growth=2.0)
    assert config.load({"MOVIEREC_PLACEMENT_GROWTH": "1.5", "MIN_RATINGS_TO_ASSIGN": "3"}
                       ).placement == Placement(3, 1.5)


def test_without_redis_url_commands_find_the_redis_make_run_uses(tmp_path):
    (tmp_path / config.REDIS_URL_FILE).write_text("redis://127.0.0.1:6390/0\n")
    settings = config.load({"MOVIEREC_VAR_DIR": str(tmp_path)})
    assert settings.redis_url == "redis://127.0.0.1:6390/0" and not settings.redis_url_given
    assert settings.redis_url_source == str(tmp_path / config.REDIS_URL_FILE)
    given = config.load({"MOVIEREC_VAR_DIR": str(tmp_path), "REDIS_URL": "redis://r:1/0"})
    assert given.redis_url == "redis://r:1/0" and given.redis_url_source == "REDIS_URL"


def test_environment_overrides():
    settings = config.load({"REDIS_URL": "redis://r:1/2", "PORT": "9000", "K_RANGE": "3-7",
                            "MOVIEREC_VAR_DIR": "/tmp/v", "MIN_CLUSTER_SIZE": "9",
                            "API_WORKERS": "7", "API_WORKER_CLASS": "sync", "HOST": "0.0.0.0"})
    assert settings.redis_url == "redis://r:1/2" and settings.port == 9000
    assert settings.host == "0.0.0.0"
    assert settings.k_range == (3, 7) and settings.min_cluster_size == 9
    assert settings.model_dir == Path("/tmp/v/models") and settings.api_workers == 7
    assert settings.api_worker_class == "sync"
    assert settings.redis_url_given


def test_the_private_redis_server_is_configured_here_too():
    settings = config.load({"MOVIEREC_REDIS_PORT": "6401", "MOVIEREC_NO_APT": "1"})
    assert settings.private_redis_port == 6401 and not settings.allow_apt


@pytest.mark.parametrize("text, expected", [("5-14", (5, 14)), ("2-2", (2, 2)), (" 3-7", (3, 7))])
def test_k_range_parses_low_high(text, expected):
    assert config.parse_k_range(text) == expected


@pytest.mark.parametrize("text, message", [
    ("7", "must look like '5-14'"), ("a-b", "must look like '5-14'"),
    ("1-5", "needs 2 <= low <= high"), ("9-3", "needs 2 <= low <= high"),
])
def test_k_range_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        config.parse_k_range(text)


@pytest.mark.parametrize("env, message", [
    ({"PORT": "eighty"}, "PORT must be an integer"),
    ({"K_RANGE": "7"}, "K_RANGE must look like"),
    ({"K_RANGE": "9-3"}, "K_RANGE needs 2 <= low <= high"),
    ({"API_WORKER_CLASS": "eventlet"},
     "API_WORKER_CLASS must be one of gevent, sync, got 'eventlet'"),
    ({"MOVIEREC_REDIS_PORT": "redis"}, "MOVIEREC_REDIS_PORT must be an integer"),
    ({"HOST": "0.0.0.0:8000"}, "HOST must be an address to listen on, like 127.0.0.1"),
    ({"HOST": "http://example.org"}, "HOST must be an address to listen on"),
    ({"HOST": "my host"}, "HOST must be an address to listen on"),
])
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        config.load(env)


@pytest.mark.parametrize("prefix", ["a{b", "a}b", "two words", "a%sb", "50%"])
def test_a_prefix_that_cannot_be_a_hash_tag_is_refused_by_name(prefix):
    with pytest.raises(config.ConfigError, match="MOVIEREC_PREFIX"):
        config.load({"MOVIEREC_PREFIX": prefix})


def test_api_keys_are_comma_separated_by_kind():
    settings = config.load({"MOVIEREC_WRITE_KEYS": " w-0123456789abcdef , w2-0123456789abcdef,",
                            "MOVIEREC_ADMIN_KEYS": "a-0123456789abcdef"})
    assert settings.write_keys == ("w-0123456789abcdef", "w2-0123456789abcdef")
    assert settings.admin_keys == ("a-0123456789abcdef",) and settings.read_keys == ()
    config.require_keys(settings)


@pytest.mark.parametrize("env, message", [
    ({}, "the API needs MOVIEREC_WRITE_KEYS and MOVIEREC_ADMIN_KEYS"),
    ({"MOVIEREC_WRITE_KEYS": "w-0123456789abcdef"}, "the API needs"),
    ({"MOVIEREC_WRITE_KEYS": "w-0123456789abcdef", "MOVIEREC_ADMIN_KEYS": "change-me"},
     "MOVIEREC_ADMIN_KEYS holds a guessable key"),
    ({"MOVIEREC_WRITE_KEYS": "short", "MOVIEREC_ADMIN_KEYS": "a-0123456789abcdef"},
     "MOVIEREC_WRITE_KEYS holds a guessable key"),
])
def test_the_api_refuses_missing_or_guessable_keys(env, message):
    with pytest.raises(config.ConfigError, match=message):
        config.require_keys(config.load(env))


@pytest.mark.parametrize("env, message", [
    ({"MOVIEREC_WRITE_KEYS": "two words"}, "MOVIEREC_WRITE_KEYS: keys must be printable ASCII"),
    ({"MOVIEREC_RATE_LIMIT_PER_KEY": "lots"}, "MOVIEREC_RATE_LIMIT_PER_KEY must look like"),
    ({"MOVIEREC_LOG_FORMAT": "xml"}, "MOVIEREC_LOG_FORMAT must be one of json, text"),
    ({"MOVIEREC_ACCESS_LOG": "yes"}, "MOVIEREC_ACCESS_LOG must be one of on, off"),
    ({"MOVIEREC_HOLDOUT_SPLIT": "hash"}, "MOVIEREC_HOLDOUT_SPLIT must be one of temporal, random"),
    ({"MOVIEREC_EXPLORATION_COVERAGE": "1.5"},
     "MOVIEREC_EXPLORATION_COVERAGE must be between 0 and 1"),
    ({"MOVIEREC_EXPLORATION_COVERAGE": "wide"},
     "MOVIEREC_EXPLORATION_COVERAGE must be a number between 0 and 1"),
    ({"MOVIEREC_MAX_INBOX_AGE": "soon"}, "MOVIEREC_MAX_INBOX_AGE must be a duration"),
    ({"MOVIEREC_PLACEMENT_GROWTH": "twice"}, "MOVIEREC_PLACEMENT_GROWTH must be a number"),
    ({"MOVIEREC_PLACEMENT_GROWTH": "0.5"}, "MOVIEREC_PLACEMENT_GROWTH must be at least 1"),
    ({"MIN_RATINGS_TO_ASSIGN": "0"}, "MIN_RATINGS_TO_ASSIGN must be at least 1"),
])
def test_bad_security_and_operations_settings_name_the_variable(env, message):
    with pytest.raises(config.ConfigError, match=message):
        config.load(env)


def test_the_exploration_asks_a_tenth_of_the_catalogue_unless_told_otherwise():
    assert config.load({}).exploration_coverage == 0.1
    assert config.load({"MOVIEREC_EXPLORATION_COVERAGE": "0.15"}).exploration_coverage == 0.15
    assert config.load({"MOVIEREC_EXPLORATION_COVERAGE": "0"}).exploration_coverage == 0.0


def test_rate_limits_and_inbox_age_are_read():
    settings = config.load({"MOVIEREC_RATE_LIMIT_PER_KEY": "50/second;2000/minute",
                            "MOVIEREC_RATE_LIMIT_PER_ADDRESS": "5/second",
                            "MOVIEREC_MAX_INBOX_AGE": "2m"})
    assert settings.rate_limit_per_key == "50/second;2000/minute"
    assert settings.rate_limit_per_address == "5/second" and settings.max_inbox_age == 120


@pytest.mark.parametrize("text", ["1000/second", "6000 per minute", "50/2 minutes",
                                  "10 per 2 hours;5/day", "1/sec", "lots", "5/fortnight",
                                  "100/second;", "3 per"])
def test_rate_limits_are_checked_as_the_limits_library_parses_them(text):
    from limits import parse_many

    try:
        parse_many(text)
        parsed = True
    except ValueError:
        parsed = False
    try:
        config.load({"MOVIEREC_RATE_LIMIT_PER_KEY": text})
        accepted = True
    except config.ConfigError:
        accepted = False
    assert accepted == parsed


@pytest.mark.parametrize("host, port, shown", [
    ("127.0.0.1", 8000, "127.0.0.1:8000"), ("localhost", 80, "localhost:80"),
    ("::1", 8000, "[::1]:8000"), ("::", 9000, "[::]:9000"),
])
def test_an_address_is_what_gunicorn_binds_and_a_url_names(host, port, shown):
    assert config.load({"HOST": host}).host == host
    assert config.address(host, port) == shown


def test_a_cluster_url_names_some_nodes_and_the_queues_need_a_plain_redis():
    env = {"REDIS_URL": "redis+cluster://movierec:s%40cret@10.0.0.1:7000,10.0.0.2:7001",
           "MOVIEREC_QUEUE_URL": "redis://10.0.0.9:6379/0"}
    settings = config.load(env)
    assert settings.cluster == config.ClusterAddress(
        (("10.0.0.1", 7000), ("10.0.0.2", 7001)), "movierec", "s@cret", tls=False)
    assert settings.queue_url == "redis://10.0.0.9:6379/0"
    tls = config.load({**env, "REDIS_URL": "rediss+cluster://:pw@node:7000"}).cluster
    assert tls == config.ClusterAddress((("node", 7000),), None, "pw", tls=True)
    single = config.load({"REDIS_URL": "redis://r:1/0"})
    assert single.cluster is None and single.queue_url == "redis://r:1/0"


@pytest.mark.parametrize("env, message", [
    ({"REDIS_URL": "redis+cluster://a:7000"}, "MOVIEREC_QUEUE_URL is required when REDIS_URL "
                                              "names a Redis Cluster"),
    ({"REDIS_URL": "redis://a:1/0", "MOVIEREC_QUEUE_URL": "redis+cluster://a:7000"},
     "MOVIEREC_QUEUE_URL must name a plain Redis"),
    ({"REDIS_URL": "redis+cluster://a:7000,b", "MOVIEREC_QUEUE_URL": "redis://q:1/0"},
     "REDIS_URL must list the cluster's nodes as host:port"),
])
def test_a_cluster_set_up_that_cannot_work_is_refused_at_start(env, message):
    with pytest.raises(config.ConfigError, match=message):
        config.load(env)


def test_waiting_for_replicas_is_configured_in_one_place():
    settings = config.load({"MOVIEREC_WRITE_REPLICAS": "1",
                            "MOVIEREC_WRITE_REPLICA_TIMEOUT_MS": "250"})
    assert (settings.write_replicas, settings.write_replica_timeout_ms) == (1, 250)
    assert config.load({}).write_replicas == 0
    with pytest.raises(config.ConfigError, match="MOVIEREC_WRITE_REPLICAS must be at least 0"):
        config.load({"MOVIEREC_WRITE_REPLICAS": "-1"})


def test_a_rollback_leaves_the_api_a_head_start_unless_told_not_to():
    assert config.load({}).rebuild_head_start == 2.0
    assert config.load({"MOVIEREC_REBUILD_HEAD_START": "0.5"}).rebuild_head_start == 0.5
    assert config.load({"MOVIEREC_REBUILD_HEAD_START": "0"}).rebuild_head_start == 0.0
    assert config.load({"MOVIEREC_REBUILD_HEAD_START": "5s"}).rebuild_head_start == 5.0
