"""Phase 3: freshness. While a child process posts ``--rate`` events/s, probes rate a user's
top recommendation 5 stars and time until it has left that user's list and the cluster's
favourite count has moved."""
from __future__ import annotations

import json
import multiprocessing
import random
import time

from .http_client import get_recommendations, http_request
from .load import background_load, event_bodies
from .pipeline import lua_stats, reset_stats
from .processes import Context


def phase_freshness(ctx: Context) -> None:
    """Probes while a child process posts ``--rate`` events/s in the background."""
    from shared.store.models import ModelStore

    args, client, keys = ctx.args, ctx.client, ctx.keys
    version = ModelStore(client, keys).active_version()
    rng = random.Random(7)
    assigned = {int(u) for p in range(keys.partitions)
                for u in client.hkeys(keys.assignments(version, p))}
    probe_users = rng.sample(sorted(assigned & set(ctx.users)), min(args.probes, len(assigned)))
    background_users = sorted(set(ctx.users) - set(probe_users))
    bodies = event_bodies(rng, background_users, ctx.movies, args.background_batch, 40)

    mp = multiprocessing.get_context("fork")
    stop, results = mp.Event(), mp.Queue()
    loader = mp.Process(target=background_load, daemon=True,
                        args=(ctx.api_port, bodies, args.background_batch, args.rate,
                              args.freshness_seconds + args.warmup + 30, stop, results))
    print(f"  background load: {args.rate:,} events/s in batches of {args.background_batch}; "
          f"{args.probes} probes after {args.warmup:.0f} s", flush=True)
    reset_stats(ctx.nodes)
    loader.start()
    probes, backlog = [], []
    try:
        time.sleep(args.warmup)
        ctx.meter.start({"loadgen": [loader.pid]})
        deadline = time.monotonic() + args.freshness_seconds
        for i in range(args.probes):
            if time.monotonic() > deadline or not loader.is_alive():
                break
            backlog.append(ctx.pipeline.backlog())
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
    calls, usec = lua_stats(ctx.nodes)
    ctx.results["freshness"] = {"probes": probes, "load": load, "cpu": used, "backlog": backlog,
                                "lua_calls": calls, "lua_usec": usec}


def probe_once(ctx: Context, version: str, user: int) -> dict | None:
    """Rate the user's top recommendation 5 stars, then poll (5 ms apart) until the rating is
    in Redis (``applied``), the cluster's favourite count for the movie has moved (``count``)
    and the movie has left the user's recommendations (``list``); seconds from the POST."""
    client, keys, port = ctx.client, ctx.keys, ctx.api_port
    status, body = get_recommendations(port, user)
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
        if ("applied" not in seen
                and (client.hget(keys.user(user), movie) or b"").startswith(b"10|")):
            seen["applied"] = time.perf_counter() - t0
        if "count" not in seen and (client.zscore(fav_key, movie) or 0) > before:
            seen["count"] = time.perf_counter() - t0
        if "list" not in seen:
            status, body = get_recommendations(port, user)
            if status == 200 and movie not in {i["movie_id"] for i in json.loads(body)["items"]}:
                seen["list"] = time.perf_counter() - t0
        if {"applied", "count", "list"} <= set(seen):
            break
        time.sleep(0.005)
    seen["fresh"] = max(seen["count"], seen["list"]) if {"count", "list"} <= set(seen) else None
    return seen
