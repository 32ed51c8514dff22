"""Phase 5: users the model has not seen, accumulating between two retrains. Rounds of
``NEW_USER_ROUND_EVENTS`` rating events by ``NEW_USERS`` new users at random, in POSTs of 1,000,
each round timed until every event is applied: applied events/s, Redis CPU per 1,000 events
and ratings-script calls per round. Every new user with enough ratings is placed in a taste
cluster by the workers, so the work per event may grow with the rounds; this phase shows
whether it does."""
from __future__ import annotations

import json
import random
import time

from .load import post_batches
from .pipeline import lua_stats, reset_stats
from .processes import Context

NEW_USERS = 50_000
NEW_USER_ROUND_EVENTS = 60_000
FIRST_NEW_USER = 20_000_000


def round_bodies(rng: random.Random, movies: list[int], events: int) -> list[bytes]:
    """POST bodies of 1,000 ratings, each by one of the NEW_USERS new users at random."""
    bodies = []
    for _ in range(events // 1000):
        batch = [{"type": "rating", "user_id": FIRST_NEW_USER + rng.randrange(NEW_USERS),
                  "movie_id": rng.choice(movies), "rating": rng.randint(1, 10) / 2}
                 for _ in range(1000)]
        bodies.append(json.dumps(batch, separators=(",", ":")).encode())
    return bodies


def phase_new_users(ctx: Context) -> None:
    """``--new-user-rounds`` rounds, each posted as fast as the API answers and then drained."""
    args = ctx.args
    rng = random.Random(23)
    rounds = []
    for number in range(1, args.new_user_rounds + 1):
        bodies = round_bodies(rng, ctx.movies, NEW_USER_ROUND_EVENTS)
        ctx.pipeline.wait_idle(args.drain_timeout)
        reset_stats(ctx.nodes)
        finished_before = ctx.pipeline.finished_ids()
        ctx.meter.start()
        t0 = time.perf_counter()
        state = post_batches(ctx.api_port, bodies, len(bodies), threads=args.ingest_threads,
                             deadline=time.monotonic() + args.ingest_timeout)
        drained = ctx.pipeline.wait_idle(args.drain_timeout)
        seconds = time.perf_counter() - t0
        used = ctx.meter.stop()
        calls, usec = lua_stats(ctx.nodes)
        jobs = ctx.pipeline.results_since(finished_before)
        applied = sum(j.get("applied", 0) for j in jobs)
        row = {"round": number, "accepted": state["accepted"], "errors": state["errors"],
               "drained": drained is not None, "seconds": seconds, "applied": applied,
               "users_classified": sum(j.get("users_classified", 0) for j in jobs),
               "users_assigned": sum(j.get("users_assigned", 0) for j in jobs),
               "events_per_second": state["accepted"] / seconds,
               "redis_cpu_ms_per_1000": 1e6 * used.get("redis", 0.0) * seconds
               / max(state["accepted"], 1),
               "script_calls": calls, "script_usec": usec}
        rounds.append(row)
        print(f"  round {number}: {row['events_per_second']:,.0f} events/s, Redis "
              f"{row['redis_cpu_ms_per_1000']:.0f} ms CPU per 1,000 events, {calls:,} script "
              f"calls, {row['users_classified']:,} users classified, "
              f"{row['users_assigned']:,} moved", flush=True)
    ctx.results["new_users"] = {"users": NEW_USERS, "events_per_round": NEW_USER_ROUND_EVENTS,
                                "rounds": rounds}
