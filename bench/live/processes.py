"""The processes this run starts and stops: a private redis-server, ``movierec import`` and
``train``, the API under gunicorn, Flask's hello world under the same gunicorn options
(hello.py) and the RQ workers; all on 127.0.0.1."""
from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cpu import CpuMeter
from .http_client import wait_http
from .pipeline import Pipeline
from .settings import (
    API_WORKERS,
    COPY_ID_STEP,
    HERE,
    KEYS_ENV,
    QUEUE,
    ROOT,
    RQ_WORKERS,
    SETTINGS,
    USER_COPIES,
    WORKER_CLASS,
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """The private Redis (or a local cluster and the queues' Redis) and the processes this run
    started, stopped in reverse order."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.redis_handle = None  # the data's: a private Redis, or a ClusterHandle
        self.queue_handle = None  # the queues' Redis beside a cluster
        self.password = secrets.token_urlsafe(16)
        self.processes: dict[str, subprocess.Popen] = {}
        self.env: dict[str, str] = {}

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        with open(self.tmp / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = proc
        return proc

    def log_tail(self, name: str, chars: int = 1500) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        for proc in reversed(list(self.processes.values())):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)  # its own session: only its children
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for handle in (self.redis_handle, self.queue_handle):
            if handle is not None:
                handle.stop()

    def redis_pids(self) -> list[int]:
        """The data's Redis processes."""
        handle = self.redis_handle
        return [p.pid for p in handle.processes] if hasattr(handle, "ports") else [
            handle.process.pid]


def run_cli(stack: Stack, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "movierec", *args], cwd=ROOT, env=stack.env,
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class Context:
    """What the phases share: the running services, the data set's ids, the CPU meter, the
    options, and the results each phase adds."""

    stack: Stack
    api_port: int
    hello_port: int
    client: object  # the data's (a RedisCluster on a cluster)
    nodes: list  # a client of each Redis holding data, for its statistics
    keys: object
    pipeline: Pipeline
    users: list[int]
    movies: list[int]
    ids_file: Path  # lines: the data's users, its movies, the users computed runs ask for
    meter: CpuMeter
    args: argparse.Namespace
    results: dict = field(default_factory=dict)


def start_redis(stack: Stack, masters: int = 0) -> None:
    """A private Redis, or (``masters``) a local cluster of that many masters with the queues
    on a private Redis beside it."""
    from movierec.redis_cluster import start_cluster
    from movierec.redis_server import start_private
    from tests.conftest import free_cluster_ports

    var = stack.tmp / "var"
    redis_port = free_port()
    handle = start_private(var, port=redis_port, password=stack.password)
    if handle.process is None:
        raise RuntimeError(f"port {redis_port} already answered PING: not our Redis")
    urls = {"REDIS_URL": handle.url}
    if masters:
        stack.queue_handle = handle
        handle = start_cluster(var, free_cluster_ports(masters), masters=masters,
                               password=stack.password)
        urls = {"REDIS_URL": handle.url, "MOVIEREC_QUEUE_URL": stack.queue_handle.url}
    stack.redis_handle = handle
    stack.env = dict(os.environ, **KEYS_ENV, **urls, MOVIEREC_VAR_DIR=str(var),
                     MOVIEREC_QUEUE=QUEUE, PYTHONUNBUFFERED="1")
    where = f"a cluster of {masters} masters (queues on port {redis_port})" if masters else (
        f"port {redis_port}")
    print(f"redis: {where}, user movierec with a password (data in {var})", flush=True)


def import_and_train(stack: Stack, data: Path) -> tuple[str, str]:
    """``movierec import`` then ``movierec train`` (``--model svd`` when the default model
    fails); what the import printed and which model was trained."""
    out = run_cli(stack, ["import", str(data)], timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"movierec import failed:\n{out.stderr[-2000:]}")
    imported = out.stdout.strip()
    print(f"import: {imported}", flush=True)
    model_note = "the default model (`movierec train`)"
    out = run_cli(stack, ["train"], timeout=1200)
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or ["?"])[-1][:160]
        print(f"movierec train failed ({why}); training with --model svd", flush=True)
        model_note = f"svd (`movierec train --model svd`: the default model failed: {why})"
        out = run_cli(stack, ["train", "--model", "svd"], timeout=1200)
        if out.returncode != 0:
            raise RuntimeError(f"movierec train --model svd failed:\n{out.stderr[-2000:]}")
    print(f"train: {out.stdout.strip()}", flush=True)
    return imported, model_note


def import_user_copies(stack: Stack, data: Path, last_user: int) -> list[int]:
    """``USER_COPIES`` copies of every user of ``data`` under new ids, imported with ``movierec
    import`` after training (so the model does not know them); their ids."""
    import pandas as pd

    if not (data / "ratings.csv").exists():
        raise RuntimeError(f"{data}: user copies need a ratings.csv (MovieLens csv format)")
    if last_user >= COPY_ID_STEP:
        raise RuntimeError(f"user ids reach {last_user}: copies need COPY_ID_STEP above it")
    folder = stack.tmp / "user-copies"
    folder.mkdir(exist_ok=True)
    shutil.copy(data / "movies.csv", folder / "movies.csv")
    ratings = pd.read_csv(data / "ratings.csv")
    copies = pd.concat([ratings.assign(userId=ratings["userId"] + k * COPY_ID_STEP)
                        for k in range(1, USER_COPIES + 1)])
    copies.to_csv(folder / "ratings.csv", index=False)
    out = run_cli(stack, ["import", str(folder)], timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"movierec import of the user copies failed:\n{out.stderr[-2000:]}")
    print(f"user copies: {out.stdout.strip()}", flush=True)
    return sorted(int(u) for u in copies["userId"].unique())


def set_up(stack: Stack, args: argparse.Namespace) -> Context:
    """Everything the phases need, started and ready."""
    import redis
    from rq import Worker

    from shared.store.catalogue import Catalogue
    from shared.store.keys import Keys

    start_redis(stack, args.cluster)
    imported, model_note = import_and_train(stack, args.data)

    api_port, hello_port = free_port(), free_port()
    api = stack.start("api", [sys.executable, "-m", "movierec", "serve", "--host", "127.0.0.1",
                              "--port", str(api_port), "--workers", str(API_WORKERS),
                              "--worker-class", WORKER_CLASS])
    hello = stack.start("hello", [sys.executable, str(HERE / "hello.py"),
                                  "--bind", f"127.0.0.1:{hello_port}",
                                  "--workers", str(API_WORKERS),
                                  "--worker-class", WORKER_CLASS])
    workers = [stack.start(f"worker{i}", [sys.executable, "-m", "movierec", "worker",
                                          "--name", f"bench-live-{os.getpid()}-{i}"])
               for i in range(1, RQ_WORKERS + 1)]
    try:
        wait_http(api_port, "/readyz", 60, api)
        wait_http(hello_port, "/", 60, hello)
    except RuntimeError:
        print(stack.log_tail("api"), stack.log_tail("hello"), sep="\n", file=sys.stderr)
        raise
    if args.cluster:
        from movierec.redis_cluster import node_client
        from shared.config import Settings
        from shared.store.client import client_for

        client = client_for(Settings(redis_url=stack.redis_handle.url))
        nodes = [node_client(port, stack.password, timeout=10)
                 for port in stack.redis_handle.ports]
        queue_client = redis.Redis.from_url(stack.queue_handle.url, socket_timeout=10)
    else:
        client = redis.Redis.from_url(stack.redis_handle.url, socket_timeout=10)
        nodes, queue_client = [client], client
    deadline = time.monotonic() + 30
    while len(Worker.all(connection=queue_client)) < RQ_WORKERS and time.monotonic() < deadline:
        time.sleep(0.1)
    if any(w.poll() is not None for w in workers):
        raise RuntimeError(f"a worker exited:\n{stack.log_tail('worker1')}")

    keys = Keys(SETTINGS.key_prefix)
    users = sorted(int(u) for p in range(keys.partitions) for u in client.smembers(keys.users(p)))
    movies = sorted(Catalogue(client, keys).all_movies())
    copies = import_user_copies(stack, args.data, max(users))
    ids_file = stack.tmp / "ids.txt"
    ids_file.write_text("\n".join(" ".join(map(str, ids))
                                  for ids in (users, movies, users + copies)) + "\n")
    groups = {"api": [api.pid], "hello": [hello.pid], "workers": [w.pid for w in workers],
              "redis": stack.redis_pids()}
    if stack.queue_handle is not None:
        groups["queue redis"] = [stack.queue_handle.process.pid]
    ctx = Context(stack, api_port, hello_port, client, nodes, keys,
                  Pipeline(client, queue_client, keys), users, movies, ids_file,
                  CpuMeter(groups), args)
    ctx.results.update(model=model_note, data=imported)
    return ctx
