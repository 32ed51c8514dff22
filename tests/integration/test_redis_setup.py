"""The set-up's three Redis paths, run as `make run` runs them (a real process, real Redis)."""
import os
import subprocess
import sys

import pytest
import redis

from movierec.redis_server import ensure_redis, find_redis_server
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def run_setup(*args, env):
    return subprocess.run([sys.executable, "-m", "movierec.redis_server", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_reachable_redis_url_is_used_and_nothing_is_started(redis_url, tmp_path):
    handle = ensure_redis(tmp_path, port=free_port(), url=redis_url)
    assert handle.url == redis_url and handle.process is None
    assert not (tmp_path / "redis").exists()


def test_private_server_starts_with_append_only_file_under_var_and_a_password(tmp_path,
                                                                              monkeypatch):
    if find_redis_server() is None:
        pytest.skip("redis-server not installed (make test installs it)")
    monkeypatch.delenv("REDIS_URL", raising=False)
    port = free_port()
    handle = ensure_redis(tmp_path / "var", port=port)
    try:
        assert handle.process is not None
        client = redis.Redis.from_url(handle.url)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("dir")["dir"] == str((tmp_path / "var" / "redis").resolve())
        client.set("k", "v")
        again = ensure_redis(tmp_path / "var", port=port)
        assert again.process is None and again.url == handle.url  # reused, not restarted
        # only the user movierec gets in, with the password kept under var, not shown in `ps`
        password = (tmp_path / "var" / "redis.password").read_text().strip()
        assert handle.url == f"redis://movierec:{password}@127.0.0.1:{port}/0"
        for anonymous in (redis.Redis(port=port), redis.Redis(port=port, password="guess")):
            with pytest.raises(redis.AuthenticationError):
                anonymous.set("k", "v")
        for secret in ("redis.password", "redis/users.acl"):
            assert (tmp_path / "var" / secret).stat().st_mode & 0o077 == 0, secret
        assert password not in open(f"/proc/{handle.process.pid}/cmdline").read()
    finally:
        handle.stop()
    assert handle.process.poll() is not None
    assert any((tmp_path / "var" / "redis").rglob("*.aof")), "append-only file was written"


def test_an_unreachable_redis_url_stops_with_a_message_and_starts_nothing(tmp_path):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    env = dict(os.environ, REDIS_URL=dead)
    result = run_setup("start", "--var", str(tmp_path / "var"), "--port", str(free_port()), env=env)
    assert result.returncode == 3, result.stderr
    assert f"REDIS_URL={dead} does not answer" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "redis").exists()


def test_neither_possible_stops_with_how_to_provide_redis(tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {"PATH": str(empty_bin), "HOME": str(tmp_path)}
    result = run_setup("start", "--var", str(tmp_path / "var"), "--port", str(free_port()), env=env)
    assert result.returncode == 3
    assert "redis-server is not installed, and apt-get is not available" in result.stderr
    assert "REDIS_URL=redis://HOST:6379/0 make run" in result.stderr
    assert "apt-get install redis-server" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "redis").exists()


def test_ensure_binary_accepts_a_reachable_url_without_a_server_binary(redis_url, tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = run_setup("ensure-binary", env={"PATH": str(empty_bin), "REDIS_URL": redis_url})
    assert result.returncode == 0, result.stderr
    assert f"using Redis at {redis_url}" in result.stdout


def test_no_apt_setting_is_honoured(tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {"PATH": str(empty_bin), "HOME": str(tmp_path), "MOVIEREC_NO_APT": "1"}
    result = run_setup("start", "--var", str(tmp_path / "var"), env=env)
    assert result.returncode == 3
    assert "redis-server is not installed, and MOVIEREC_NO_APT is set" in result.stderr


def test_start_and_stop_use_the_configured_port_and_folder(tmp_path):
    if find_redis_server() is None:
        pytest.skip("redis-server not installed (make test installs it)")
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
           "MOVIEREC_REDIS_PORT": str(port), "MOVIEREC_VAR_DIR": str(tmp_path / "var")}
    started = run_setup("start", env=env)
    try:
        assert started.returncode == 0, started.stderr
        password = (tmp_path / "var" / "redis.password").read_text().strip()
        assert started.stdout.strip() == f"redis://movierec:{password}@127.0.0.1:{port}/0"
        assert redis.Redis.from_url(started.stdout.strip()).ping()
        assert (tmp_path / "var" / "redis").is_dir()
    finally:
        stopped = run_setup("stop", env=env)
    assert stopped.returncode == 0
    with pytest.raises(redis.ConnectionError) as stopped_server:
        redis.Redis.from_url(started.stdout.strip(), socket_timeout=2).ping()
    assert not isinstance(stopped_server.value, redis.AuthenticationError)


def test_a_bad_setting_is_a_clean_message(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "MOVIEREC_REDIS_PORT": "six"}
    result = run_setup("start", env=env)
    assert result.returncode == 2
    assert "configuration: MOVIEREC_REDIS_PORT must be an integer" in result.stderr
    assert "Traceback" not in result.stderr

