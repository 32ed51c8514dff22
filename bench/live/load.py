"""Load generation: wrk runs (bench/live/wrk.lua) and rating events posted from client threads,
as fast as answered or on an open-loop schedule."""
from __future__ import annotations

import json
import math
import random
import subprocess
import threading
import time
from pathlib import Path

from .http_client import http_request
from .lists import GENRE_FILE, GUEST_FILE
from .settings import API_KEY, HERE, VARIED_N
from .stats import pct

WRK_RUNS = {  # name -> (which server, wrk.lua mode, what it is)
    "hello": ("hello", "hello", "hello world GET /"),
    "event": ("api", "event", "POST one event"),
    "cached": ("api", "recommendations", "GET recommendations, n=10 (cache warm)"),
    "computed": ("api", "computed", f"GET recommendations, n={VARIED_N[0]}–{VARIED_N[1]} "
                                    f"(computed)"),
    "genre": ("api", "genre", f"GET recommendations, genre row (the user's most-rated genre), "
                              f"n={VARIED_N[0]}–{VARIED_N[1]} (computed)"),
    "rows": ("api", "rows", f"GET rows (home screen), n={VARIED_N[0]}–{VARIED_N[1]} (computed)"),
    "guest": ("api", "guest", "POST /v1/recommendations (guest's ratings), n=10"),
}
# the runs that start with the API's recommendation cache emptied (request_rates.py)
COLD_RUNS = ("computed", "genre", "rows", "guest")
# the runs made at the req/s connections only, not again at one per gunicorn worker: the list
# runs at both would add 6 runs a round to the default benchmark's 7
REQ_S_ONLY = ("event", "genre", "rows", "guest")
# the file beside the ids file that a mode reads too (bench/live/lists.py writes them)
WRK_FILES = {"genre": GENRE_FILE, "guest": GUEST_FILE}


def connections_of(name: str, connections: int, api_workers: int) -> tuple[int, ...]:
    """The connection counts run ``name`` is made at."""
    return (connections,) if name in REQ_S_ONLY else (connections, api_workers)


def run_wrk(port: int, mode: str, connections: int, duration: int, ids_file: Path,
            keep_alive: bool = False) -> dict:
    """One wrk run with 1 thread; its WRK_JSON line, with ``rps`` and ``errors`` added.

    Without ``keep_alive`` every request has a connection of its own, as from many distinct
    clients; with it, each of wrk's connections carries request after request, as a real
    client's does (a connection stays with the process that accepted it)."""
    close = [] if keep_alive else ["-H", "Connection: close"]
    extra = [str(ids_file.parent / WRK_FILES[mode])] if mode in WRK_FILES else []
    cmd = ["wrk", "-t1", *close, f"-c{connections}", f"-d{duration}s",
           "--timeout", "5s", "-s", str(HERE / "wrk.lua"), f"http://127.0.0.1:{port}/", "--",
           mode, str(ids_file), API_KEY, *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    line = next((text for text in out.stdout.splitlines() if text.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    result = json.loads(line[len("WRK_JSON "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors",
                                               "status_errors", "timeouts"))
    return result


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


def post_latencies(state: dict) -> dict:
    """p50 and p99 seconds of the POSTs of a ``post_batches`` run."""
    return {"post_p50": pct(state["latencies"], 50), "post_p99": pct(state["latencies"], 99)}


def background_load(port, bodies, batch, rate, seconds, stop, results):
    """Child process: post ``rate`` events/s in batches of ``batch`` until stopped."""
    interval = batch / rate
    state = post_batches(port, bodies, int(seconds / interval) + 1, threads=3,
                         deadline=time.monotonic() + seconds, interval=interval, stop=stop)
    # the rate over the schedule kept: first to last send, plus the last one's share
    span = state["last_sent"] - state["first_sent"] + interval if state["first_sent"] else math.nan
    results.put({"accepted": state["accepted"], "errors": state["errors"],
                 "requests": state["requests"], "rate": state["accepted"] / span,
                 "late_max": state["late_max"], **post_latencies(state)})
