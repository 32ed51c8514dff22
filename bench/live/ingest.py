"""Phase 4: batched ingest end to end. Batches of 1,000 posted as fast as the API takes them,
timed until every event is applied (nothing waiting in Redis, no job running)."""
from __future__ import annotations

import random
import time

from .load import event_bodies, post_batches, post_latencies
from .pipeline import lua_stats, reset_stats
from .processes import Context


def phase_ingest(ctx: Context) -> None:
    """Batches of 1,000 as fast as the API answers, until every event is applied."""
    args = ctx.args
    n_requests = args.ingest_events // 1000
    # distinct events, mostly new ratings: (user, movie) pairs repeat little
    bodies = event_bodies(random.Random(11), ctx.users, ctx.movies, 1000, min(n_requests, 1000))
    print(f"  {n_requests} batches of 1,000 with {args.ingest_threads} client threads", flush=True)
    ctx.pipeline.wait_idle(args.drain_timeout)
    reset_stats(ctx.nodes)
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
    calls, usec = lua_stats(ctx.nodes)
    jobs = ctx.pipeline.results_since(finished_before)
    ctx.results["ingest"] = {
        "requests": state["requests"], "accepted": state["accepted"], "errors": state["errors"],
        "http_seconds": http_seconds, "end_to_end_seconds": end_to_end,
        "drained": drained is not None, "waiting_after_http": waiting, "jobs": len(jobs),
        "failed": ctx.pipeline.queue.failed_job_registry.count - failed_before,
        "applied": sum(j.get("applied", 0) for j in jobs),
        "skipped": sum(j.get("skipped", 0) for j in jobs),
        **post_latencies(state), "cpu": used, "lua_calls": calls, "lua_usec": usec}
