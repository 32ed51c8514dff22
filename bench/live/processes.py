"""The processes this run starts and stops: a private redis-server, ``movierec import`` and
``train`` (or, with ``--train-sample``, a fit on a sample of users in this process), the API
under gunicorn, Flask's hello world under the same gunicorn options (hello.py) and the RQ
workers; all on 127.0.0.1."""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .cpu import CpuMeter
from .http_client import wait_http
from .pipeline import Pipeline
from .settings import (
    API_WORKERS,
    CACHED_USERS,
    COMPUTED_PAIRS,
    COPY_ID_STEP,
    HERE,
    KEYS_ENV,
    QUEUE,
    ROOT,
    RQ_WORKERS,
    SETTINGS,
    USER_COPIES,
    VARIED_N,
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
    cached_users: list[int]  # those the cache-warm and POST runs ask for (CACHED_USERS)
    movies: list[int]
    ids_file: Path  # lines: the cached users, the movies, the users computed runs ask for
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


def import_and_train(stack: Stack, data: Path, train_sample: int | None = None
                     ) -> tuple[str, str]:
    """``movierec import`` then ``movierec train`` (``--model svd`` when the default model
    fails), or with ``train_sample`` and more ratings than that in ``data``, a fit on a sample
    of its users (:func:`train_on_sample`); what the import printed and which model was
    trained."""
    out = run_cli(stack, ["import", str(data)], timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"movierec import failed:\n{out.stderr[-2000:]}")
    imported = out.stdout.strip()
    print(f"import: {imported}", flush=True)
    if train_sample is not None:
        model_note = train_on_sample(stack, data, train_sample)
        if model_note is not None:
            return imported, model_note
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


def train_on_sample(stack: Stack, data: Path, size: int) -> str | None:
    """Fit the model in this process on the ratings of users of ``data`` drawn at random until
    about ``size`` (bench/sample.py, as bench/cluster.py does) and publish it on the stack's
    Redis, active for the API and the workers; the model note, or None when ``data`` holds no
    more than ``size`` ratings (then ``movierec train`` fits on everything, as without the
    option). Run after the import: publishing builds the version's counters over every user in
    the store, not only the sample's. Like ``movierec train``, the default model first and
    ``svd`` when it fails; unlike it, no held-out share and no gate."""
    from bench.sample import user_sample
    from shared import config
    from shared.data import movielens
    from shared.store.stores import Stores
    from trainer.pipeline import TrainerBundleConfig, fit_pipeline
    from trainer.publish import publish

    started = time.monotonic()
    loaded = movielens.load(data)
    sample = user_sample(loaded.ratings, size)
    total = len(loaded.ratings)
    if len(sample) == total:
        print(f"train sample: {total:,} ratings, not more than --train-sample {size:,}: "
              f"movierec train on everything", flush=True)
        return None
    if sample.empty:
        raise RuntimeError(f"--train-sample {size:,} is smaller than the first drawn user's "
                           f"ratings: nothing to fit on")
    n_users, n_all = sample["user_id"].nunique(), loaded.ratings["user_id"].nunique()
    print(f"train sample: {n_users:,} of {n_all:,} users, {len(sample):,} of {total:,} ratings "
          f"(read in {time.monotonic() - started:.0f} s); fitting", flush=True)
    # the services' settings (their Redis, key prefix, model folder, k range), as they load them
    settings = config.load(stack.env)
    base = TrainerBundleConfig(k_range=settings.k_range,
                               min_cluster_size=settings.min_cluster_size)
    started = time.monotonic()
    model_note = "the default model"
    try:
        bundle = fit_pipeline(sample, loaded.movies, base, progress=False)
    except Exception as exc:  # as movierec train's fallback in import_and_train
        why = f"{type(exc).__name__}: {exc}"[:160]
        print(f"fitting the default model failed ({why}); fitting svd", flush=True)
        model_note = f"svd (the default model failed: {why})"
        bundle = fit_pipeline(sample, loaded.movies, replace(base, model="svd"), progress=False)
    steps = ", ".join(f"{name} {seconds:.0f} s"
                      for name, seconds in bundle.manifest["fit_seconds"].items())
    print(f"train: fitted version {bundle.version} in {time.monotonic() - started:.0f} s "
          f"({steps}); publishing (counters over every user in the store)", flush=True)
    started = time.monotonic()
    publish(bundle, Stores.connect(settings), shrink=base.shrink, progress=False)
    print(f"train: published {bundle.version}, now active, in {time.monotonic() - started:.0f} s",
          flush=True)
    return (f"{model_note}, fitted in the benchmark on a sample of {n_users:,} of the "
            f"{n_all:,} users ({len(sample):,} of the {total:,} ratings; `--train-sample "
            f"{size}`) and published with its counters over every user")


def copies_needed(users: int, train_sample: int | None) -> int:
    """How many copies of every data user :func:`import_user_copies` makes. ``USER_COPIES``
    without ``--train-sample``, as always. With it (large data), only as many as make the
    ``COMPUTED_PAIRS`` distinct (user, n) requests the computed runs need, at most
    ``USER_COPIES``: the same 4 on ml-latest-small's 610 users, none from 3,050 users on
    (162,000 users already make 1.6 M pairs), where 4 copies of 25 M ratings would be 100 M more
    to import and to hold in Redis."""
    if train_sample is None:
        return USER_COPIES
    pairs_per_copy = users * (VARIED_N[1] - VARIED_N[0] + 1)
    return min(USER_COPIES, max(0, math.ceil(COMPUTED_PAIRS / pairs_per_copy) - 1))


def import_user_copies(stack: Stack, data: Path, last_user: int, count: int) -> list[int]:
    """``count`` copies of every user of ``data`` under new ids, imported with ``movierec
    import`` after training (so the model does not know them); their ids."""
    import pandas as pd

    if count == 0:
        return []
    if not (data / "ratings.csv").exists():
        raise RuntimeError(f"{data}: user copies need a ratings.csv (MovieLens csv format)")
    if last_user >= COPY_ID_STEP:
        raise RuntimeError(f"user ids reach {last_user}: copies need COPY_ID_STEP above it")
    folder = stack.tmp / "user-copies"
    folder.mkdir(exist_ok=True)
    shutil.copy(data / "movies.csv", folder / "movies.csv")
    ratings = pd.read_csv(data / "ratings.csv")
    copies = pd.concat([ratings.assign(userId=ratings["userId"] + k * COPY_ID_STEP)
                        for k in range(1, count + 1)])
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
    imported, model_note = import_and_train(stack, args.data, args.train_sample)

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
    n_copies = copies_needed(len(users), args.train_sample)
    copies = import_user_copies(stack, args.data, max(users), n_copies)
    ids_file = stack.tmp / "ids.txt"
    cached_users = (users if len(users) <= CACHED_USERS
                    else sorted(random.Random(7).sample(users, CACHED_USERS)))
    ids_file.write_text("\n".join(" ".join(map(str, ids))
                                  for ids in (cached_users, movies, users + copies)) + "\n")
    groups = {"api": [api.pid], "hello": [hello.pid], "workers": [w.pid for w in workers],
              "redis": stack.redis_pids()}
    if stack.queue_handle is not None:
        groups["queue redis"] = [stack.queue_handle.process.pid]
    ctx = Context(stack, api_port, hello_port, client, nodes, keys,
                  Pipeline(client, queue_client, keys), users, cached_users, movies, ids_file,
                  CpuMeter(groups), args)
    ctx.results.update(model=model_note, data=imported, user_copies=n_copies)
    return ctx
