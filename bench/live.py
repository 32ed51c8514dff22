"""Benchmarks of issue 4, live events and recommendations, on one machine, by hand.

    .venv/bin/python bench/live.py            # about 5 minutes; rewrites the results block of
                                              # docs/live-benchmark.md
    .venv/bin/python bench/live.py --quick    # a short smoke run; prints only
    API_WORKER_CLASS=sync .venv/bin/python bench/live.py --only-rps   # the wrk runs under
                                              # another configuration (API and hello world)

Sets up everything itself and tears it down at the end (also on Ctrl-C or SIGTERM): a private
redis-server on a free loopback port in a temporary folder, ``movierec import`` of
ml-latest-small, ``movierec train`` (``--model svd`` when the default model cannot be trained),
``movierec serve`` (gunicorn, the API's worker class and count), Flask's hello world under the
same gunicorn options (bench/live/hello.py), and two ``movierec worker`` processes. All
traffic goes to 127.0.0.1.

Measures, in this order:
  1. requests per second of the hello world, single-event POSTs and recommendation GETs
     (wrk, 1 thread, bench/live/wrk.lua), interleaved over rounds; recommendations both as a
     client revisiting gets them (the API's cache warm) and computed on every request;
  2. in process, what one recommendation and one single-event POST spend their time on;
  3. freshness: while a background process posts 5,000 events/s, probes rate a user's top
     recommendation 5 stars and time until it has left that user's list and the cluster's
     favourite count has moved;
  4. batched ingest end to end: batches of 1,000 posted as fast as the API takes them, timed
     until every event is applied (nothing waiting in Redis, no job running).
Each phase records the CPU every process group used (from /proc), so the report says where
the time went and how much other programs on the machine took. Needs Debian's ``wrk``.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import multiprocessing
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "live"
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-latest-small"
DOC = ROOT / "docs" / "live-benchmark.md"
RQ_WORKERS = 2
QUEUE = "bench-live-events"
VARIED_N = (6, 15)  # wrk.lua's "computed" mode draws n from this range (keep them in step)
CLK_TCK = os.sysconf("SC_CLK_TCK")

sys.path.insert(0, str(ROOT))
from benchdoc import write_results  # noqa: E402
from shared.config import load as load_settings  # noqa: E402

SETTINGS = load_settings()  # the API's own defaults (or $API_WORKERS, $API_WORKER_CLASS),
API_WORKERS, WORKER_CLASS = SETTINGS.api_workers, SETTINGS.api_worker_class  # hello world's too


# ---------------------------------------------------------------- processes and clean-up

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """The private Redis and the processes this run started, stopped in reverse order."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.redis_handle = None
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
        if self.redis_handle is not None:
            self.redis_handle.stop()


def run_cli(stack: Stack, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "movierec", *args], cwd=ROOT, env=stack.env,
                          capture_output=True, text=True, timeout=timeout)


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 timeout: float = 10) -> tuple[int, bytes]:
    """One request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_http(port: int, path: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the process serving port {port} exited ({proc.returncode})")
        with contextlib.suppress(OSError):
            if http_request(port, "GET", path, timeout=2)[0] == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"http://127.0.0.1:{port}{path} did not answer 200 within {timeout:.0f} s")


# ---------------------------------------------------------------- CPU accounting

def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far) of every process on the machine."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return table


def _machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


def _tree_cpu(table, roots: list[int]) -> float:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1]
        todo.extend(children.get(pid, []))
    return total


class CpuMeter:
    """Cores each process group used between ``start()`` and ``stop()``; ``client`` is this
    process with the children it reaped meanwhile (wrk), ``other`` everything not ours."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups
        self.extra: dict[str, list[int]] = {}

    def _sample(self) -> dict[str, float]:
        table = _proc_table()
        own = os.times()
        sample = {name: _tree_cpu(table, pids) for name, pids in {**self.groups, **self.extra}.items()}
        sample["client"] = own.user + own.system + own.children_user + own.children_system
        sample["machine"] = _machine_busy()
        return sample

    def start(self, extra: dict[str, list[int]] | None = None) -> None:
        self.extra = extra or {}
        self.t0, self.first = time.monotonic(), self._sample()

    def stop(self) -> dict[str, float]:
        last, wall = self._sample(), time.monotonic() - self.t0
        used = {name: max(last[name] - self.first.get(name, 0.0), 0.0) / wall for name in last}
        ours = sum(v for k, v in used.items() if k != "machine")
        used["other"] = max(used.pop("machine") - ours, 0.0)
        used["wall_s"] = wall
        return used


# ---------------------------------------------------------------- redis and rq

def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=10)


class Pipeline:
    """What is still on its way from the API to the ratings store: events waiting in Redis
    (the inbox, where the API has one) and jobs queued or running."""

    def __init__(self, client, keys):
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.client = client
        self.queue = Queue(QUEUE, connection=client, serializer=JSONSerializer)
        self.inbox = getattr(keys, "inbox", None)

    def waiting_events(self) -> int:
        return self.client.llen(self.inbox) if self.inbox else 0

    def idle(self) -> bool:
        return (self.waiting_events() == 0 and self.queue.count == 0
                and self.queue.started_job_registry.count == 0)

    def wait_idle(self, timeout: float, poll: float = 0.005) -> float | None:
        """Seconds until nothing is waiting or running, or None at the timeout."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.idle():
                return time.monotonic() - t0
            time.sleep(poll)
        return None

    def finished_ids(self) -> set[str]:
        return set(self.queue.finished_job_registry.get_job_ids())

    def results_since(self, before: set[str]) -> list[dict]:
        """Results of the jobs that finished since ``before`` was taken (RQ keeps them a while)."""
        from rq.job import Job

        ids = sorted(self.finished_ids() - before)
        out = []
        for start in range(0, len(ids), 200):
            for job in Job.fetch_many(ids[start:start + 200], connection=self.client,
                                      serializer=self.queue.serializer):
                result = job.return_value() if job is not None else None
                if isinstance(result, dict):
                    out.append(result)
        return out


def lua_stats(client) -> tuple[int, int]:
    """(calls, microseconds) Redis spent in EVALSHA since the last CONFIG RESETSTAT."""
    entry = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(entry.get("calls", 0)), int(entry.get("usec", 0))


# ---------------------------------------------------------------- load generation

def event_bodies(rng: random.Random, users: list[int], movies: list[int], batch: int,
                 count: int) -> list[bytes]:
    """``count`` distinct JSON arrays of ``batch`` rating events without ``ts``: the API stamps
    receipt time, so a body posted twice is applied twice (later ts), not skipped."""
    bodies = []
    for _ in range(count):
        events = [{"type": "rating", "user_id": rng.choice(users), "movie_id": rng.choice(movies),
                   "rating": rng.randint(1, 10) / 2} for _ in range(batch)]
        bodies.append(json.dumps(events, separators=(",", ":")).encode())
    return bodies


def post_batches(port: int, bodies: list[bytes], n_requests: int, threads: int,
                 deadline: float, interval: float | None = None, stop=None) -> dict:
    """Post ``n_requests`` bodies with ``threads`` client threads, the i-th not before
    ``t0 + i * interval`` when ``interval`` is given (open loop), else as fast as answered."""
    lock = threading.Lock()
    state = {"next": 0, "accepted": 0, "errors": 0, "late_max": 0.0, "latencies": [],
             "first_sent": None, "last_sent": None}
    t0 = time.monotonic()

    def worker():
        while True:
            with lock:
                i = state["next"]
                if i >= n_requests:
                    return
                state["next"] += 1
            if interval is not None:
                pause = t0 + i * interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                else:
                    with lock:
                        state["late_max"] = max(state["late_max"], -pause)
            if time.monotonic() > deadline or (stop is not None and stop.is_set()):
                return
            sent = time.time()
            try:
                status, answer = http_request(port, "POST", "/v1/events", bodies[i % len(bodies)])
            except OSError:
                status, answer = 0, b""
            done = time.time()
            with lock:
                state["first_sent"] = min(state["first_sent"] or sent, sent)
                state["last_sent"] = max(state["last_sent"] or sent, sent)
                state["latencies"].append(done - sent)
                if status == 202:
                    state["accepted"] += json.loads(answer)["accepted"]
                else:
                    state["errors"] += 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(max(deadline - time.monotonic(), 0) + 15)
    state["requests"] = len(state["latencies"])
    return state


def _background_load(port, bodies, batch, rate, seconds, stop, results):
    """Child process: post ``rate`` events/s in batches of ``batch`` until stopped."""
    interval = batch / rate
    state = post_batches(port, bodies, int(seconds / interval) + 1, threads=3,
                         deadline=time.monotonic() + seconds, interval=interval, stop=stop)
    # the rate over the schedule kept: first to last send, plus the last one's share
    span = state["last_sent"] - state["first_sent"] + interval if state["first_sent"] else math.nan
    results.put({"accepted": state["accepted"], "errors": state["errors"],
                 "requests": state["requests"], "rate": state["accepted"] / span,
                 "late_max": state["late_max"],
                 "post_p50": pct(state["latencies"], 50), "post_p99": pct(state["latencies"], 99)})


# ---------------------------------------------------------------- statistics

def pct(values, q: float) -> float:
    """The q-th percentile (nearest rank); nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, min(len(ordered), math.ceil(q / 100 * len(ordered)))) - 1]


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else math.nan


# ---------------------------------------------------------------- the phases

@dataclass
class Context:
    stack: Stack
    api_port: int
    hello_port: int
    client: object
    keys: object
    pipeline: Pipeline
    users: list[int]
    movies: list[int]
    ids_file: Path
    meter: CpuMeter
    args: argparse.Namespace
    results: dict = field(default_factory=dict)


WRK_RUNS = {  # name -> (which server, wrk.lua mode, what it is)
    "hello": ("hello", "hello", "hello world GET /"),
    "event": ("api", "event", "POST one event"),
    "cached": ("api", "recommendations", "GET recommendations, n=10 (cache warm)"),
    "computed": ("api", "computed", f"GET recommendations, n={VARIED_N[0]}–{VARIED_N[1]} "
                                    f"(computed)"),
}


def run_wrk(ctx: Context, name: str, connections: int) -> dict:
    server, mode, _ = WRK_RUNS[name]
    port = ctx.hello_port if server == "hello" else ctx.api_port
    # one connection per request, as from many distinct clients: with keep-alive, wrk's few
    # connections stay with whichever gevent process accepted them and leave the others idle
    cmd = ["wrk", "-t1", "-H", "Connection: close", f"-c{connections}",
           f"-d{ctx.args.duration}s", "--timeout", "5s",
           "-s", str(HERE / "wrk.lua"), f"http://127.0.0.1:{port}/", "--", mode,
           str(ctx.ids_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=ctx.args.duration + 60)
    line = next((l for l in out.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    result = json.loads(line[len("WRK_JSON "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors",
                                               "status_errors", "timeouts"))
    return result


def clear_recommendation_cache(ctx: Context) -> None:
    """Forget the API's cached answers (where it has a cache), so that a run starts cold."""
    pattern = getattr(ctx.keys, "recommendations_cache", None)
    if pattern is None:
        return
    for key in ctx.client.scan_iter(match=pattern("*"), count=1000):
        ctx.client.delete(key)


def phase_rps(ctx: Context) -> None:
    """The wrk runs, interleaved over rounds so that slow spells of the machine hit all."""
    args, conns = ctx.args, ctx.args.connections
    runs = {f"{name}@{c}": [] for name in WRK_RUNS for c in (conns, API_WORKERS)}
    cpu = {name: [] for name in runs}
    drains = []
    for round_no in range(args.rounds):
        print(f"  round {round_no + 1}: one GET per user ({len(ctx.users)}) to warm the API's "
              f"recommendation cache", flush=True)
        for user in ctx.users:
            http_request(ctx.api_port, "GET", f"/v1/users/{user}/recommendations?n=10")
        for name in WRK_RUNS:
            for c in ((conns, API_WORKERS) if name != "event" else (conns,)):
                print(f"  round {round_no + 1}: wrk {name}, {c} connections, {args.duration} s",
                      flush=True)
                finished_before = ctx.pipeline.finished_ids() if name == "event" else set()
                if name == "computed":
                    clear_recommendation_cache(ctx)
                ctx.meter.start()
                result = run_wrk(ctx, name, c)
                cpu[f"{name}@{c}"].append(ctx.meter.stop())
                runs[f"{name}@{c}"].append(result)
                if name == "event":
                    waiting = ctx.pipeline.waiting_events() + ctx.pipeline.queue.count
                    drained = ctx.pipeline.wait_idle(args.drain_timeout)
                    jobs = len(ctx.pipeline.finished_ids() - finished_before)
                    drains.append({"events": result["requests"], "waiting": waiting,
                                   "drain_s": drained, "jobs": jobs})
    ctx.results["rps"] = {"runs": runs, "cpu": cpu, "event_drains": drains}


def phase_freshness(ctx: Context) -> None:
    """Probes while a child process posts ``--rate`` events/s in the background."""
    from shared.store.models import ModelStore

    args, client, keys = ctx.args, ctx.client, ctx.keys
    version = ModelStore(client, keys).active_version()
    rng = random.Random(7)
    assigned = {int(u) for u in client.hkeys(keys.assignments(version))}
    probe_users = rng.sample(sorted(assigned & set(ctx.users)), min(args.probes, len(assigned)))
    background_users = sorted(set(ctx.users) - set(probe_users))
    bodies = event_bodies(rng, background_users, ctx.movies, args.background_batch, 40)

    mp = multiprocessing.get_context("fork")
    stop, results = mp.Event(), mp.Queue()
    loader = mp.Process(target=_background_load, daemon=True,
                        args=(ctx.api_port, bodies, args.background_batch, args.rate,
                              args.freshness_seconds + args.warmup + 30, stop, results))
    print(f"  background load: {args.rate:,} events/s in batches of {args.background_batch}; "
          f"{args.probes} probes after {args.warmup:.0f} s", flush=True)
    client.config_resetstat()
    loader.start()
    probes, backlog = [], []
    try:
        time.sleep(args.warmup)
        ctx.meter.start({"loadgen": [loader.pid]})
        deadline = time.monotonic() + args.freshness_seconds
        for i in range(args.probes):
            if time.monotonic() > deadline or not loader.is_alive():
                break
            backlog.append(ctx.pipeline.waiting_events() + ctx.pipeline.queue.count)
            probe = probe_once(ctx, version, probe_users[i % len(probe_users)])
            if probe is not None:
                probes.append(probe)
            time.sleep(rng.uniform(0.02, 0.1))
        used = ctx.meter.stop()
    finally:
        stop.set()
        loader.join(30)
        if loader.is_alive():
            loader.terminate()
            loader.join(5)
    load = results.get(timeout=5) if not results.empty() else {}
    ctx.pipeline.wait_idle(args.drain_timeout)
    calls, usec = lua_stats(client)
    ctx.results["freshness"] = {"probes": probes, "load": load, "cpu": used, "backlog": backlog,
                                "lua_calls": calls, "lua_usec": usec}


def probe_once(ctx: Context, version: str, user: int) -> dict | None:
    """Rate the user's top recommendation 5 stars, then poll (5 ms apart) until the rating is
    in Redis (``applied``), the cluster's favourite count for the movie has moved (``count``)
    and the movie has left the user's recommendations (``list``); seconds from the POST."""
    client, keys, port = ctx.client, ctx.keys, ctx.api_port
    status, body = http_request(port, "GET", f"/v1/users/{user}/recommendations?n=10")
    answer = json.loads(body) if status == 200 else {}
    if answer.get("cluster") is None or not answer.get("items"):
        return None
    movie = answer["items"][0]["movie_id"]
    fav_key = keys.cluster_favourites(version, answer["cluster"])
    before = client.zscore(fav_key, movie) or 0
    event = json.dumps({"type": "rating", "user_id": user, "movie_id": movie, "rating": 5}).encode()
    t0 = time.perf_counter()
    status, _ = http_request(port, "POST", "/v1/events", event)
    seen = {"post": time.perf_counter() - t0}
    if status != 202:
        return None
    while time.perf_counter() - t0 < ctx.args.probe_timeout:
        if "applied" not in seen and (client.hget(keys.user(user), movie) or b"").startswith(b"10|"):
            seen["applied"] = time.perf_counter() - t0
        if "count" not in seen and (client.zscore(fav_key, movie) or 0) > before:
            seen["count"] = time.perf_counter() - t0
        if "list" not in seen:
            status, body = http_request(port, "GET", f"/v1/users/{user}/recommendations?n=10")
            if status == 200 and movie not in {i["movie_id"] for i in json.loads(body)["items"]}:
                seen["list"] = time.perf_counter() - t0
        if {"applied", "count", "list"} <= set(seen):
            break
        time.sleep(0.005)
    seen["fresh"] = max(seen["count"], seen["list"]) if {"count", "list"} <= set(seen) else None
    return seen


def phase_ingest(ctx: Context) -> None:
    """Batches of 1,000 as fast as the API answers, until every event is applied."""
    args = ctx.args
    n_requests = args.ingest_events // 1000
    # distinct events, mostly new ratings: (user, movie) pairs repeat little
    bodies = event_bodies(random.Random(11), ctx.users, ctx.movies, 1000, min(n_requests, 1000))
    print(f"  {n_requests} batches of 1,000 with {args.ingest_threads} client threads", flush=True)
    ctx.pipeline.wait_idle(args.drain_timeout)
    ctx.client.config_resetstat()
    finished_before = ctx.pipeline.finished_ids()
    failed_before = ctx.pipeline.queue.failed_job_registry.count
    ctx.meter.start()
    t0 = time.perf_counter()
    state = post_batches(ctx.api_port, bodies, n_requests, threads=args.ingest_threads,
                         deadline=time.monotonic() + args.ingest_timeout)
    http_seconds = time.perf_counter() - t0
    waiting = ctx.pipeline.waiting_events()
    drained = ctx.pipeline.wait_idle(args.drain_timeout)
    end_to_end = time.perf_counter() - t0
    used = ctx.meter.stop()
    calls, usec = lua_stats(ctx.client)
    jobs = ctx.pipeline.results_since(finished_before)
    ctx.results["ingest"] = {
        "requests": state["requests"], "accepted": state["accepted"], "errors": state["errors"],
        "http_seconds": http_seconds, "end_to_end_seconds": end_to_end,
        "drained": drained is not None, "waiting_after_http": waiting, "jobs": len(jobs),
        "failed": ctx.pipeline.queue.failed_job_registry.count - failed_before,
        "applied": sum(j.get("applied", 0) for j in jobs),
        "skipped": sum(j.get("skipped", 0) for j in jobs),
        "post_p50": pct(state["latencies"], 50), "post_p99": pct(state["latencies"], 99),
        "cpu": used, "lua_calls": calls, "lua_usec": usec}


def _mean_ms(fn, repeat: int) -> float:
    for _ in range(5):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1000


def phase_profile(ctx: Context) -> None:
    """In this process, on the same Redis and model while the services idle: what one
    recommendation and one single-event POST spend their time on."""
    import numpy as np

    from api import create_app
    from shared import config

    app = create_app(config.load(ctx.stack.env))
    svc = app.extensions["movierec"]
    model = svc.models.get()
    web = app.test_client()
    members = list(getattr(model.recommender, "members_", None) or [model.recommender])
    names = ["redis: the user's ratings (HGETALL)"]
    names += [f"fold-in: {type(m).__name__}.predict_unseen" for m in members]
    names += ["redis: cluster favourites (ZREVRANGE 0 499)",
              "whole GET, computed (its cache entry deleted first)", "whole GET, cached"]
    parts = {name: [] for name in names}
    n_ratings = []
    cache_key = getattr(svc.keys, "recommendations_cache", None)
    for user in ctx.users:
        t = time.perf_counter()
        live = {m: v[0] for m, v in svc.store.user_ratings(user).items()}
        parts[names[0]].append(time.perf_counter() - t)
        n_ratings.append(len(live))
        row = model.user_row(live)
        for name, member in zip(names[1:], members):
            t = time.perf_counter()
            member.predict_unseen(row)
            parts[name].append(time.perf_counter() - t)
        cluster = svc.redis.hget(svc.keys.assignments(model.version), user)
        t = time.perf_counter()
        if cluster is not None:
            svc.redis.zrevrange(svc.keys.cluster_favourites(model.version, int(cluster)), 0, 499,
                                withscores=True)
        parts[names[-3]].append(time.perf_counter() - t)
        if cache_key is not None:
            svc.redis.delete(cache_key(user))
        for name in names[-2:]:
            t = time.perf_counter()
            web.get(f"/v1/users/{user}/recommendations?n=10")
            parts[name].append(time.perf_counter() - t)
    n_ratings = np.asarray(n_ratings)
    heavy = n_ratings >= 500
    rows = []
    for name, values in parts.items():
        ms = np.asarray(values) * 1000
        rows.append({"part": name, "mean": ms.mean(), "p50": np.percentile(ms, 50),
                     "p99": np.percentile(ms, 99), "heavy_share": ms[heavy].sum() / ms.sum()})

    # POSTs go to a scratch prefix and queue that no worker reads, deleted afterwards
    scratch = f"bench-live-profile-{os.getpid()}"
    app = create_app(config.load(dict(ctx.stack.env, MOVIEREC_PREFIX=scratch,
                                      MOVIEREC_QUEUE=scratch)))
    svc, web = app.extensions["movierec"], app.test_client()
    event = json.dumps({"type": "rating", "user_id": 1, "movie_id": 1, "rating": 4})
    post = {
        "POST /v1/events, one event": _mean_ms(
            lambda: web.post("/v1/events", data=event, content_type="application/json"), 300),
        "GET /healthz": _mean_ms(lambda: web.get("/healthz"), 300),
        "one RPUSH round trip": _mean_ms(lambda: svc.redis.rpush(f"{{{scratch}}}:x", "x"), 300),
        "RQ enqueue of one job": _mean_ms(lambda: svc.queue.enqueue("len", [1], result_ttl=1), 300),
    }
    svc.queue.delete(delete_jobs=True)
    for key in svc.redis.scan_iter(match=f"{{{scratch}}}*", count=1000):
        svc.redis.delete(key)
    ctx.results["profile"] = {"recommendation": rows, "post": post,
                              "heavy_users": int(heavy.sum()), "users": len(n_ratings),
                              "recommender": type(model.recommender).__name__,
                              "svd_strategy_scores_with": type(model.svd).__name__}


# ---------------------------------------------------------------- set-up

def machine_info() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor() or "?")
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))

    def first_line(cmd):
        with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        return "?"

    import gunicorn
    import redis as redis_py
    import rq

    try:
        import hiredis  # noqa: F401
        parser = "hiredis"
    except ImportError:
        parser = "pure-Python (no hiredis)"
    idle = CpuMeter({})
    idle.start()
    time.sleep(2)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024 ** 2, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "redis": first_line(["redis-server", "--version"]).split(" sha=")[0],
            "wrk": first_line(["wrk", "--version"]).split(" [")[0],
            "gunicorn": gunicorn.__version__, "redis_py": redis_py.__version__,
            "redis_parser": parser, "rq": rq.__version__,
            "other_cores_before": idle.stop()["other"],
            "loadavg_before": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def set_up(stack: Stack, args) -> Context:
    from movierec.redis_server import start_private
    from rq import Worker
    from shared.store.keys import Keys

    var = stack.tmp / "var"
    redis_port = free_port()
    stack.redis_handle = start_private(var, port=redis_port)
    if stack.redis_handle.process is None:
        raise RuntimeError(f"port {redis_port} already answered PING: not our Redis")
    stack.env = dict(os.environ, REDIS_URL=stack.redis_handle.url, MOVIEREC_VAR_DIR=str(var),
                     MOVIEREC_QUEUE=QUEUE, PYTHONUNBUFFERED="1")
    print(f"redis: {stack.redis_handle.url} (data in {var})", flush=True)

    out = run_cli(stack, ["import", str(args.data)], timeout=600)
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
    client = redis_client(stack.redis_handle.url)
    deadline = time.monotonic() + 30
    while len(Worker.all(connection=client)) < RQ_WORKERS and time.monotonic() < deadline:
        time.sleep(0.1)
    if any(w.poll() is not None for w in workers):
        raise RuntimeError(f"a worker exited:\n{stack.log_tail('worker1')}")

    keys = Keys(os.environ.get("MOVIEREC_PREFIX") or "movierec")
    users = sorted(int(u) for u in client.smembers(keys.users))
    movies = sorted(int(m) for m in client.hkeys(keys.movies))
    ids_file = stack.tmp / "ids.txt"
    ids_file.write_text(" ".join(map(str, users)) + "\n" + " ".join(map(str, movies)) + "\n")
    meter = CpuMeter({"api": [api.pid], "hello": [hello.pid], "workers": [w.pid for w in workers],
                      "redis": [stack.redis_handle.process.pid]})
    ctx = Context(stack, api_port, hello_port, client, keys, Pipeline(client, keys), users,
                  movies, ids_file, meter, args)
    ctx.results.update(model=model_note, data=imported)
    return ctx


# ---------------------------------------------------------------- report

def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def summarise(results: dict) -> list[dict]:
    """One row per target: what was measured, the reference, the ratio, pass or fail, and the
    cores other programs took meanwhile (``other``)."""
    rows = []
    fresh, conns = results["freshness"], results["args"]["connections"]
    cpu = results["rps"]["cpu"]

    def other(*runs):
        return max(median(u["other"] for u in cpu[run]) for run in runs)

    times = [p["fresh"] for p in fresh["probes"] if p["fresh"] is not None]
    censored = times + [math.inf] * (len(fresh["probes"]) - len(times))  # never seen = too late
    load_rate = fresh["load"].get("rate", math.nan)
    p95 = pct(censored, 95)
    rows.append({"target": "1. freshness under 5,000 events/s (p95)", "goal": "≤ 1 s",
                 "measured": f"p50 {_ms(pct(censored, 50))}, p95 {_ms(p95)}, p99 "
                             f"{_ms(pct(censored, 99))} ({len(fresh['probes'])} probes, "
                             f"{len(censored) - len(times)} not seen in time)",
                 "reference": f"background load kept {load_rate:,.0f} events/s",
                 "ratio": f"{p95:.2f} of the limit", "other": fresh["cpu"]["other"],
                 "pass": p95 <= 1.0 and load_rate >= 0.95 * results["args"]["rate"]})
    ing = results["ingest"]
    rate = ing["accepted"] / ing["end_to_end_seconds"]
    complete = ing["drained"] and not ing["failed"] and not ing["errors"]
    rows.append({"target": "2. batched ingest, HTTP in to applied", "goal": "≥ 20,000 events/s",
                 "measured": f"{rate:,.0f} events/s ({ing['accepted'] / ing['http_seconds']:,.0f}/s "
                             f"accepted by HTTP)",
                 "reference": "Gorse ~16,000/s (batches of 1,000); Metarank 1,000–3,000/s",
                 "ratio": f"{rate / 20000:.2f} × the goal", "other": ing["cpu"]["other"],
                 "pass": complete and rate >= 20000})
    runs = results["rps"]["runs"]
    hello = median(r["rps"] for r in runs[f"hello@{conns}"])
    for name, label in (("event", "3a. single-event POST, req/s"),
                        ("cached", "3b. recommendation GET, req/s, cache warm"),
                        ("computed", "3b′. recommendation GET, req/s, computed")):
        value = median(r["rps"] for r in runs[f"{name}@{conns}"])
        errors = sum(r["errors"] for r in runs[f"{name}@{conns}"])
        rows.append({"target": label, "goal": "≥ ½ hello world",
                     "measured": f"{value:,.0f} req/s" + (f" ({errors} errors)" if errors else ""),
                     "reference": f"hello world {hello:,.0f} req/s",
                     "ratio": f"{value / hello:.3f}", "other": other(f"hello@{conns}", f"{name}@{conns}"),
                     "pass": value >= hello / 2 and not errors})
    hello_p99 = median(r["p99_us"] for r in runs[f"hello@{API_WORKERS}"]) / 1000
    for name, label in (("cached", "3c. recommendation p99, cache warm"),
                        ("computed", "3c′. recommendation p99, computed")):
        p99 = median(r["p99_us"] for r in runs[f"{name}@{API_WORKERS}"]) / 1000
        p50 = median(r["p50_us"] for r in runs[f"{name}@{API_WORKERS}"]) / 1000
        rows.append({"target": label, "goal": "< 20 ms",
                     "measured": f"p99 {p99:.1f} ms (p50 {p50:.1f} ms)",
                     "reference": f"hello world p99 {hello_p99:.1f} ms",
                     "ratio": f"{p99 / 20:.2f} of the limit",
                     "other": other(f"hello@{API_WORKERS}", f"{name}@{API_WORKERS}"), "pass": p99 < 20})
    return rows


def _cores(used: dict | None) -> str:
    if not used:
        return "—"
    names = ("api", "hello", "workers", "redis", "client", "loadgen", "other")
    return ", ".join(f"{n} {used[n]:.2f}" for n in names if used.get(n, 0) >= 0.005)


def _spread(values: list[float], scale: float = 1000) -> str:
    return f"p50 {pct(values, 50) * scale:.1f}, p95 {pct(values, 95) * scale:.1f}, " \
           f"p99 {pct(values, 99) * scale:.1f}"


def rps_table(results: dict) -> list[str]:
    """The wrk runs as markdown lines, with each run's req/s against the hello world's."""
    runs, cpu, conns = results["rps"]["runs"], results["rps"]["cpu"], results["args"]["connections"]
    out = ["**wrk runs** (1 thread, a new connection for each request (`Connection: close`); "
            "req/s of every round, median latencies; CPU in cores, median round):", "",
            "| run | connections | req/s per round | p50 ms | p99 ms | errors | CPU, cores |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, (_, _, label) in WRK_RUNS.items():
        for c in (conns, API_WORKERS):
            rs, used = runs.get(f"{name}@{c}", []), cpu.get(f"{name}@{c}", [])
            if not rs:
                continue
            middle = sorted(used, key=lambda u: u["wall_s"])[len(used) // 2] if used else None
            per_round = ", ".join(f"{r['rps']:,.0f}" for r in rs)
            out.append(f"| {label} | {c} | {per_round} | "
                       f"{median(r['p50_us'] for r in rs) / 1000:.1f} | "
                       f"{median(r['p99_us'] for r in rs) / 1000:.1f} | "
                       f"{sum(r['errors'] for r in rs)} | {_cores(middle)} |")
    hello = median(r["rps"] for r in runs[f"hello@{conns}"])
    per = {}
    for name in ("hello", "event", "cached", "computed"):
        group = "hello" if name == "hello" else "api"
        per[name] = median(u[group] * u["wall_s"] / r["requests"] * 1000
                           for u, r in zip(cpu[f"{name}@{conns}"], runs[f"{name}@{conns}"]))
    out += ["", "- gunicorn CPU per request (ratios less sensitive to other programs' load than "
            f"req/s): hello world {per['hello']:.2f} ms; single-event POST {per['event']:.2f} ms "
            f"(hello/POST {per['hello'] / per['event']:.2f}); recommendation, cache warm "
            f"{per['cached']:.2f} ms ({per['hello'] / per['cached']:.2f}); computed "
            f"{per['computed']:.2f} ms ({per['hello'] / per['computed']:.3f})"]
    computed = runs[f"computed@{conns}"]
    combos = len(results["data_users"]) * (VARIED_N[1] - VARIED_N[0] + 1)
    requests = median(r["requests"] for r in computed)
    repeats = 1 - combos * (1 - (1 - 1 / combos) ** requests) / requests if requests else 0
    out.append(f"- a computed run starts with the cache emptied and draws (user, n) from "
               f"{combos:,} pairs: about {repeats:.0%} of its requests repeat a pair and may be "
               f"answered from cache")
    for d in results["rps"]["event_drains"]:
        out.append(f"- single-event POST run: {d['events']:,} events applied by {d['jobs']:,} RQ "
                   f"jobs; {d['waiting']:,} events/jobs still waiting when wrk stopped, all applied "
                   + (f"{d['drain_s']:.2f} s later" if d["drain_s"] is not None else "NOT in time"))
    out.append(f"- req/s against the hello world's: " + ", ".join(
        f"{name} {median(r['rps'] for r in runs[f'{name}@{conns}']) / hello:.3f}"
        for name in ("event", "cached", "computed")))
    return out


def details(results: dict) -> list[str]:
    """The figures behind the table, as markdown lines."""
    out = rps_table(results)
    fresh = results["freshness"]
    probes, load = fresh["probes"], fresh["load"]
    out += ["", f"**Freshness**: {len(probes)} probes. Background load {load.get('accepted', 0):,} "
            f"events at {load.get('rate', math.nan):,.0f}/s ({load.get('requests', 0)} POSTs, "
            f"{load.get('errors', 0)} errors, POST p50 {_ms(load.get('post_p50', math.nan))}, p99 "
            f"{_ms(load.get('post_p99', math.nan))}, at most {_ms(load.get('late_max', 0))} behind "
            f"schedule); waiting events/jobs when a probe started: median "
            f"{pct(fresh['backlog'], 50):.0f}, max {max(fresh['backlog'] or [0])}. Milliseconds "
            f"from sending the probe's POST until:"]
    for key, name in (("post", "its 202 arrived"), ("applied", "the rating was in Redis"),
                      ("count", "the cluster's favourite count had moved"),
                      ("list", "a GET no longer listed the movie"),
                      ("fresh", "both (the figure in the table)")):
        values = [p[key] for p in probes if p.get(key) is not None]
        out.append(f"- {name}: {_spread(values)}")
    if fresh["lua_calls"]:
        out.append(f"- Redis ran the ratings script {fresh['lua_calls']:,} times, "
                   f"{fresh['lua_usec'] / fresh['lua_calls'] / 1000:.2f} ms a call on average")
    out.append(f"- CPU while probing, cores: {_cores(fresh['cpu'])}")

    ing = results["ingest"]
    out += ["", f"**Batched ingest**: {ing['requests']} POSTs of 1,000 events ({ing['errors']} "
            f"errors), {ing['accepted']:,} accepted in {ing['http_seconds']:.2f} s; "
            f"{ing['waiting_after_http']:,} events still waiting then; all applied "
            f"{ing['end_to_end_seconds']:.2f} s after the first POST. Jobs' results: "
            f"{ing['applied']:,} applied, {ing['skipped']:,} skipped as no change, over "
            f"{ing['jobs']} jobs; {ing['failed']} failed.",
            f"- POST of 1,000 events: p50 {_ms(ing['post_p50'])}, p99 {_ms(ing['post_p99'])}"]
    if ing["lua_calls"]:
        per_event = ing["lua_usec"] / max(ing["accepted"], 1)
        out.append(f"- Redis ran the ratings script for {per_event:.1f} µs an event (push and "
                   f"apply together): one Redis thread, so at most {1e6 / per_event:,.0f} "
                   f"events/s from the script alone")
    out.append(f"- CPU over the ingest, cores: {_cores(ing['cpu'])}")

    prof = results["profile"]
    out += ["", f"**One recommendation, in process** (services idle, before the phases that add "
            f"ratings; every one of the "
            f"{prof['users']} users once; recommender {prof['recommender']}, `strategy=svd` "
            f"scores with {prof['svd_strategy_scores_with']}; the last column is the share of "
            f"the time taken by the {prof['heavy_users']} users with 500 ratings or more):", "",
            "| part | mean ms | p50 ms | p99 ms | users with ≥ 500 ratings |",
            "| --- | --- | --- | --- | --- |"]
    for row in prof["recommendation"]:
        out.append(f"| {row['part']} | {row['mean']:.2f} | {row['p50']:.2f} | {row['p99']:.1f} | "
                   f"{row['heavy_share']:.0%} |")
    out += ["", "**One single-event POST, in process** (mean ms): " + "; ".join(
        f"{name} {ms:.3f}" for name, ms in prof["post"].items())]
    return out


def render(results: dict) -> str:
    info = results["machine"]
    lines = [f"Run of {results['when']} UTC: `.venv/bin/python bench/live.py"
             f"{''.join(' ' + a for a in results['argv'])}`, {results['seconds']:.0f} s.", "",
             f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, Linux "
             f"{info['kernel']}; Python {info['python']}, {info['redis']}, {info['wrk']}, "
             f"gunicorn {info['gunicorn']} ({WORKER_CLASS}, {API_WORKERS} workers), rq {info['rq']} "
             f"({RQ_WORKERS} workers), redis-py {info['redis_py']} with the {info['redis_parser']} "
             f"parser. Other programs used {info['other_cores_before']:.2f} of the "
             f"{info['cores']} cores just before the run (load average {info['loadavg_before']}). "
             f"Data: {results['data']}. Model: {results['model']}.", "",
             "| target | goal | measured | reference, same run | ratio | result | other "
             "programs, cores |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    rows = summarise(results)
    for row in rows:
        lines.append(f"| {row['target']} | {row['goal']} | {row['measured']} | "
                     f"{row['reference']} | {row['ratio']} | {'PASS' if row['pass'] else 'FAIL'} "
                     f"| {row['other']:.2f} |")
    noisy = [row["target"].split(" ")[0].rstrip(".") for row in rows if row["other"] >= 0.25]
    if noisy:
        lines += ["", f"Other programs took a quarter of a core or more while measuring "
                      f"{', '.join(noisy)}: those figures understate this machine; run again "
                      f"when it is quiet."]
    return "\n".join(lines + [""] + details(results)) + "\n"


# ---------------------------------------------------------------- main

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA.resolve(),
                        help="MovieLens folder (default: ml-latest-small in the team folder)")
    parser.add_argument("--duration", type=int, default=8, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the wrk runs")
    parser.add_argument("--connections", type=int, default=8,
                        help=f"wrk connections of the req/s runs (the latency runs use "
                             f"{API_WORKERS}, one per gunicorn worker)")
    parser.add_argument("--rate", type=int, default=5000, help="background events/s (freshness)")
    parser.add_argument("--background-batch", type=int, default=500)
    parser.add_argument("--probes", type=int, default=120)
    parser.add_argument("--probe-timeout", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--freshness-seconds", type=float, default=150.0,
                        help="at most this long probing")
    parser.add_argument("--ingest-events", type=int, default=300_000)
    parser.add_argument("--ingest-threads", type=int, default=4)
    parser.add_argument("--ingest-timeout", type=float, default=120.0)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 s wrk runs, 1 round, 20 probes, 20,000 events; "
                             "leaves the doc alone")
    parser.add_argument("--only-rps", action="store_true",
                        help="only the wrk runs; print their table and leave the doc alone")
    parser.add_argument("--no-doc", action="store_true",
                        help=f"do not rewrite the results block of {DOC.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.probes, args.ingest_events = 2, 1, 20, 20_000
    args.no_doc = args.no_doc or args.quick or args.only_rps
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/live.py needs wrk, the HTTP load generator, which is not installed.\n"
              "Install Debian's package, then run again:  apt-get install -y wrk", file=sys.stderr)
        return 2
    if not (args.data / "ratings.csv").exists() and not any(args.data.glob("*.dat")) \
            and not (args.data / "u.data").exists():
        print(f"no MovieLens data at {args.data} (give --data DIR)", file=sys.stderr)
        return 2

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    started, when = time.monotonic(), datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    tmp = Path(tempfile.mkdtemp(prefix="movierec-bench-live-"))
    stack = Stack(tmp)
    try:
        results = {"machine": machine_info(), "argv": argv, "when": when,
                   "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
        ctx = set_up(stack, args)
        results["data_users"] = ctx.users
        # the profile comes before the phases that add ratings to the data set's users
        phases = (("requests per second (wrk)", phase_rps),
                  ("one recommendation and one POST, in process", phase_profile),
                  ("freshness under background load", phase_freshness),
                  ("batched ingest", phase_ingest))
        for number, (title, phase) in enumerate(phases[:1] if args.only_rps else phases, 1):
            print(f"{number}/{1 if args.only_rps else len(phases)} {title}", flush=True)
            phase(ctx)
        results.update(ctx.results)
        if args.only_rps:
            print("\n".join(rps_table(results)))
            return 0
        results["seconds"] = time.monotonic() - started
        block = render(results)
        print("\n" + block)
        if not args.no_doc:
            write_results(DOC, "bench/live.py", block, "Live benchmark")
            print(f"results written to {DOC.relative_to(ROOT)}")
        return 0
    except KeyboardInterrupt:
        print("interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
