"""Make sure a Redis is there: ``REDIS_URL`` when it is set (it must answer), else a private
``redis-server``.

Used by ``make run`` / ``make test`` (``python -m movierec.redis_server``) and by ``movierec up``.
The private server listens on ``MOVIEREC_REDIS_PORT`` and keeps its data under
``$MOVIEREC_VAR_DIR/redis`` with the append-only file on, so events survive a restart. Settings
come from :mod:`shared.config`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from movierec.apt import apt_get_problem, apt_install
from movierec.credentials import REDIS_USER, redis_password, write_private
from shared import config

HOW_TO_PROVIDE_REDIS = """\
movierec needs Redis and could not get one:
{reasons}
Provide Redis in one of these ways, then run the command again:
  1. point REDIS_URL at a running Redis:   REDIS_URL=redis://HOST:6379/0 make run
  2. install the server (movierec starts a private one under ./var/redis):
       Debian/Ubuntu:  sudo apt-get install redis-server
       macOS:          brew install redis
  3. run one in a container:  docker run -d -p 6379:6379 redis:7
                              REDIS_URL=redis://127.0.0.1:6379/0 make run"""


class RedisUnavailable(RuntimeError):
    """No reachable Redis and no way to start one; the message says how to provide it."""


@dataclass
class RedisHandle:
    url: str
    process: subprocess.Popen | None = None  # set when we started a private server

    def stop(self) -> None:
        """Shut the private server down (it writes its append-only file first)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            redis.Redis.from_url(self.url, socket_timeout=2).shutdown(nosave=False)
        except (redis.ConnectionError, redis.ResponseError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def ping(url: str, timeout: float = 1.0) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=timeout,
                                         socket_connect_timeout=timeout).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def find_redis_server() -> str | None:
    path = os.environ.get("PATH", "")
    return shutil.which("redis-server", path=path)


def ensure_redis_server_binary(allow_apt: bool = True) -> str:
    """Path of redis-server, installing it with apt-get when missing and ``allow_apt``."""
    binary = find_redis_server()
    if binary:
        return binary
    problem = apt_get_problem(allow_apt)
    if problem:
        raise RedisUnavailable(HOW_TO_PROVIDE_REDIS.format(
            reasons=f"  - redis-server is not installed, and {problem}"))
    failed = apt_install("redis-server", "redis-server not found")
    if failed:
        raise RedisUnavailable(HOW_TO_PROVIDE_REDIS.format(reasons=f"  - {failed}"))
    binary = find_redis_server()
    if not binary:
        raise RedisUnavailable(HOW_TO_PROVIDE_REDIS.format(
            reasons="  - apt-get reported success but redis-server is still not on PATH"))
    return binary


def start_private(var_dir: Path, port: int = config.Settings.private_redis_port,
                  binary: str | None = None, timeout: float = 15.0,
                  allow_apt: bool = True,
                  maxmemory: str = config.Settings.redis_maxmemory,
                  appendfsync: str = config.Settings.redis_appendfsync,
                  password: str | None = None) -> RedisHandle:
    """Start (or reuse) a private redis-server on 127.0.0.1:``port`` with data in var/redis.
    With ``password``, only the user ``movierec`` with it gets in (the default user is off):
    whoever reaches Redis can run code on the workers (RQ), and read every rating."""
    credentials = f"{REDIS_USER}:{password}@" if password else ""
    url = f"redis://{credentials}127.0.0.1:{port}/0"
    if ping(url):
        return RedisHandle(url)  # ours from an earlier run, still up: reuse it
    binary = binary or ensure_redis_server_binary(allow_apt)
    data_dir = Path(var_dir).resolve() / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
         "--appendonly", "yes", "--appendfsync", appendfsync, "--save", "",
         "--daemonize", "no",
         # past the limit Redis refuses writes (the API answers 507) instead of evicting
         # ratings or the inbox, as an LRU policy would
         "--maxmemory", maxmemory, "--maxmemory-policy", "noeviction",
         "--logfile", str(data_dir / "redis.log"),
         *(["--aclfile", str(_acl_file(data_dir, password))] if password else [])],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(url, timeout=0.5):
            return RedisHandle(url, process)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    log = data_dir / "redis.log"
    tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
    raise RedisUnavailable(HOW_TO_PROVIDE_REDIS.format(
        reasons=f"  - the private redis-server on port {port} did not start:\n{tail}"))


def _acl_file(data_dir: Path, password: str) -> Path:
    """The users file: ours with every right, the default user off. A file, not arguments,
    so that the password does not show in ``ps``."""
    path = data_dir / "users.acl"
    write_private(path, f"user default off\nuser {REDIS_USER} on >{password} ~* &* +@all\n")
    return path


def ensure_redis(var_dir: Path = Path("var"), port: int = config.Settings.private_redis_port,
                 url: str | None = None, allow_apt: bool = True,
                 maxmemory: str = config.Settings.redis_maxmemory,
                 appendfsync: str = config.Settings.redis_appendfsync) -> RedisHandle:
    """``url`` (the given ``REDIS_URL``) when there is one, else a private server. A given URL
    that does not answer stops everything: starting a private server instead would silently
    fill an empty Redis while the operator's data sits in the one they named."""
    if url:
        if ping(url):
            return RedisHandle(url)
        raise RedisUnavailable(
            f"REDIS_URL={url} does not answer. Start that Redis, correct REDIS_URL, or unset it "
            f"and movierec starts a private redis-server under {Path(var_dir) / 'redis'}.")
    return start_private(var_dir, port, allow_apt=allow_apt, maxmemory=maxmemory,
                         appendfsync=appendfsync, password=redis_password(var_dir))


def ensure_configured_redis(settings: config.Settings) -> RedisHandle:
    """:func:`ensure_redis` with what ``settings`` say: their ``REDIS_URL`` if one was given,
    the private server's folder, port and whether apt-get may install it."""
    return ensure_redis(settings.var_dir, settings.private_redis_port,
                        url=settings.redis_url if settings.redis_url_given else None,
                        allow_apt=settings.allow_apt, maxmemory=settings.redis_maxmemory,
                        appendfsync=settings.redis_appendfsync)


def main(argv=None) -> int:
    try:
        settings = config.load()
    except config.ConfigError as exc:
        print(f"movierec: configuration: {exc}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m movierec.redis_server", description=__doc__)
    parser.add_argument("action", choices=["ensure-binary", "start", "stop"],
                        help="ensure-binary: REDIS_URL reachable or redis-server installed; "
                             "start/stop: the private server under --var")
    parser.add_argument("--var", type=Path, default=settings.var_dir)
    parser.add_argument("--port", type=int, default=settings.private_redis_port)
    args = parser.parse_args(argv)
    url = settings.redis_url if settings.redis_url_given else None
    try:
        if args.action == "ensure-binary":
            if url and ping(url):
                print(f"movierec: using Redis at {url}")
            else:
                print(f"movierec: redis-server at {ensure_redis_server_binary(settings.allow_apt)}")
        elif args.action == "start":
            handle = ensure_redis(args.var, args.port, url=url, allow_apt=settings.allow_apt)
            print(handle.url)
        else:
            try:
                redis.Redis(port=args.port, socket_timeout=2, username=REDIS_USER,
                            password=redis_password(args.var)).shutdown(nosave=False)
            except (redis.ConnectionError, redis.ResponseError):
                pass
    except RedisUnavailable as exc:
        print(exc, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
