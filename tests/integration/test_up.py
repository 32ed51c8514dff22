"""`make run` in one terminal, operators' commands in another: they find its Redis."""
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from movierec.redis_server import find_redis_server
from shared.config import REDIS_URL_FILE
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("movierec up was not ready in time")


def post_event(port: int, key: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/events", method="POST",
        data=b'{"type": "rating", "user_id": 1, "movie_id": 1, "rating": 4.5}',
        headers={"Content-Type": "application/json", "X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_a_second_terminal_finds_the_redis_make_run_started(tmp_path, tiny_data):
    assert find_redis_server(), "make test installs redis-server"
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "MOVIEREC_WRITE_KEYS", "MOVIEREC_ADMIN_KEYS")}
    env.update(MOVIEREC_VAR_DIR=str(var), MOVIEREC_REDIS_PORT=str(free_port()),
               MOVIEREC_PREFIX="up-test", MOVIEREC_QUEUE="up-test", PYTHONUNBUFFERED="1")
    port = free_port()
    up = subprocess.Popen([sys.executable, "-m", "movierec", "up", "--data", str(tiny_data),
                           "--port", str(port), "--workers", "1"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(port, up)
        url = (var / REDIS_URL_FILE).read_text().strip()
        password = (var / "redis.password").read_text().strip()
        assert url == f"redis://movierec:{password}@127.0.0.1:{env['MOVIEREC_REDIS_PORT']}/0"
        # the keys it made and printed are the ones the API takes, and it takes no other
        keys = dict(line.split("=", 1) for line in (var / "api-keys.env").read_text().split())
        assert post_event(port, keys["MOVIEREC_WRITE_KEYS"]) == 202
        assert post_event(port, "a-key-nobody-made-up") == 401
        train = subprocess.run([sys.executable, "-m", "movierec", "train"], env=env,
                               capture_output=True, text=True, timeout=300)
        assert train.returncode == 0, train.stderr
        assert "now active" in train.stdout
    finally:
        up.send_signal(signal.SIGTERM)  # as a supervisor stops it: every process it started too
        try:
            up.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
            raise AssertionError("movierec up still ran 10 s after SIGTERM") from None
    try:
        os.killpg(up.pid, 0)
    except ProcessLookupError:
        pass  # its process group is empty: no API, worker or Redis outlived it
    else:
        os.killpg(up.pid, signal.SIGKILL)
        pytest.fail("processes movierec up started outlived it")
    assert not (var / REDIS_URL_FILE).exists()
    after = subprocess.run([sys.executable, "-m", "movierec", "train"], env=env,
                           capture_output=True, text=True, timeout=60)
    # make run is gone: the next command no longer goes to its Redis, and says what it tried
    assert after.returncode != 0 and "Traceback" not in after.stderr
    assert REDIS_URL_FILE not in after.stderr and env["MOVIEREC_REDIS_PORT"] not in after.stderr
