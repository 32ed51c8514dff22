"""``movierec up`` finds its Redis as the settings say."""
from pathlib import Path

from click.testing import CliRunner

from movierec import redis_server
from movierec.cli import main


def test_up_asks_for_the_configured_private_redis(monkeypatch, tmp_path):
    asked = {}

    def no_redis(var_dir, port, url=None, allow_apt=True, maxmemory=None, appendfsync=None):
        asked.update(var_dir=var_dir, port=port, url=url, allow_apt=allow_apt, maxmemory=maxmemory,
                     appendfsync=appendfsync)
        raise redis_server.RedisUnavailable("no Redis here")

    monkeypatch.setattr(redis_server, "ensure_redis", no_redis)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("MOVIEREC_REDIS_PORT", "6401")
    monkeypatch.setenv("MOVIEREC_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MOVIEREC_NO_APT", "1")
    monkeypatch.setenv("MOVIEREC_REDIS_MAXMEMORY", "300mb")
    monkeypatch.setenv("MOVIEREC_REDIS_APPENDFSYNC", "always")
    result = CliRunner().invoke(main, ["up"])
    assert result.exit_code == 1 and "no Redis here" in result.output
    assert asked == {"var_dir": Path(tmp_path), "port": 6401, "url": None, "allow_apt": False,
                     "maxmemory": "300mb", "appendfsync": "always"}


def test_up_tries_the_given_redis_url_first(monkeypatch, tmp_path):
    asked = {}

    def no_redis(var_dir, port, url=None, allow_apt=True, maxmemory=None, appendfsync=None):
        asked.update(url=url)
        raise redis_server.RedisUnavailable("no Redis here")

    monkeypatch.setattr(redis_server, "ensure_redis", no_redis)
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6379/0")
    monkeypatch.setenv("MOVIEREC_VAR_DIR", str(tmp_path))
    assert CliRunner().invoke(main, ["up"]).exit_code == 1
    assert asked == {"url": "redis://elsewhere:6379/0"}


def no_redis_here(*args, **kwargs):
    raise redis_server.RedisUnavailable("no Redis here")


def test_up_makes_api_keys_once_and_keeps_them_private(monkeypatch, tmp_path):
    monkeypatch.setattr(redis_server, "ensure_redis", no_redis_here)
    for name in ("MOVIEREC_WRITE_KEYS", "MOVIEREC_ADMIN_KEYS", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOVIEREC_VAR_DIR", str(tmp_path))
    CliRunner().invoke(main, ["up"])
    keys_file = tmp_path / "api-keys.env"
    first = keys_file.read_text()
    assert keys_file.stat().st_mode & 0o077 == 0
    keys = dict(line.split("=", 1) for line in first.splitlines())
    assert set(keys) == {"MOVIEREC_WRITE_KEYS", "MOVIEREC_ADMIN_KEYS"}
    assert all(len(key) >= 32 for key in keys.values()) and len(set(keys.values())) == 2
    CliRunner().invoke(main, ["up"])
    assert keys_file.read_text() == first


def test_up_and_serve_refuse_a_guessable_key(monkeypatch, tmp_path):
    monkeypatch.setattr(redis_server, "ensure_redis", no_redis_here)
    monkeypatch.setenv("MOVIEREC_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MOVIEREC_WRITE_KEYS", "a-long-enough-write-key")
    monkeypatch.setenv("MOVIEREC_ADMIN_KEYS", "change-me")
    for command in ("up", "serve"):
        result = CliRunner().invoke(main, [command])
        assert result.exit_code == 1, command
        assert "MOVIEREC_ADMIN_KEYS holds a guessable key" in result.output, command
        assert "no Redis here" not in result.output  # refused before anything starts


def test_serve_refuses_to_start_without_keys(monkeypatch, tmp_path):
    for name in ("MOVIEREC_WRITE_KEYS", "MOVIEREC_ADMIN_KEYS"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "the API needs MOVIEREC_WRITE_KEYS and MOVIEREC_ADMIN_KEYS" in result.output


class FakeRedisHandle:
    url = "redis://127.0.0.1:6399/0"

    def stop(self):
        pass


def run_up_without_starting_anything(monkeypatch, tmp_path) -> tuple[str, dict]:
    """``movierec up``'s output and the environment of its api process, with Redis, the data,
    the training and the processes faked."""
    import honcho.manager

    from movierec.commands import up

    started = {}

    class Manager:
        returncode = 0

        def __init__(self, printer):
            pass

        def add_process(self, name, cmd, env, cwd):
            started[name] = env

        def loop(self):
            pass

    monkeypatch.setattr(redis_server, "ensure_redis", lambda *a, **k: FakeRedisHandle())
    monkeypatch.setattr(up, "_load_data", lambda *args: None)
    monkeypatch.setattr(up, "_train_if_needed", lambda *args: None)
    monkeypatch.setattr(honcho.manager, "Manager", Manager)
    monkeypatch.setenv("MOVIEREC_VAR_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["up", "--port", "8125"])
    assert result.exit_code == 0, result.output
    return result.output, started["api.1"]


def test_up_serves_this_machine_only_by_default_and_says_so(monkeypatch, tmp_path):
    monkeypatch.delenv("HOST", raising=False)
    output, api_env = run_up_without_starting_anything(monkeypatch, tmp_path)
    assert "movierec is starting at http://127.0.0.1:8125 " in output
    assert api_env["HOST"] == "127.0.0.1" and api_env["PORT"] == "8125"


def test_up_prints_the_address_host_makes_it_listen_on(monkeypatch, tmp_path):
    monkeypatch.setenv("HOST", "0.0.0.0")
    output, api_env = run_up_without_starting_anything(monkeypatch, tmp_path)
    assert "movierec is starting at http://0.0.0.0:8125 " in output
    assert "curl http://0.0.0.0:8125/readyz" in output
    assert api_env["HOST"] == "0.0.0.0"
