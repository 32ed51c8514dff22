"""Phase 2: in this process, on the same Redis and model while the services idle, what one
recommendation and one single-event POST spend their time on."""
from __future__ import annotations

import json
import os
import time

from .pipeline import delete_matching
from .processes import Context


def _mean_ms(fn, repeat: int) -> float:
    for _ in range(5):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1000


def profile_recommendation(ctx: Context, svc, web, model) -> tuple[list[dict], int, int]:
    """Every user once, part by part: (a row per part, users, users with ≥ 500 ratings)."""
    import numpy as np

    members = list(getattr(model.recommender, "members_", None) or [model.recommender])
    names = ["redis: the user's ratings (HGETALL)"]
    names += [f"fold-in: {type(m).__name__}.predict_unseen" for m in members]
    names += ["redis: cluster favourites (ZREVRANGE 0 499)",
              "whole GET, computed (its cache entry deleted first)", "whole GET, cached"]
    parts = {name: [] for name in names}
    n_ratings = []
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
        svc.redis.delete(svc.keys.recommendations_cache(user))
        for name in names[-2:]:
            t = time.perf_counter()
            web.get(f"/v1/users/{user}/recommendations?n=10")
            parts[name].append(time.perf_counter() - t)
    heavy = np.asarray(n_ratings) >= 500
    rows = []
    for name, values in parts.items():
        ms = np.asarray(values) * 1000
        rows.append({"part": name, "mean": ms.mean(), "p50": np.percentile(ms, 50),
                     "p99": np.percentile(ms, 99), "heavy_share": ms[heavy].sum() / ms.sum()})
    return rows, len(n_ratings), int(heavy.sum())


def profile_post(ctx: Context) -> dict[str, float]:
    """Mean ms of a single-event POST and of its parts, on a scratch prefix and queue that no
    worker reads, deleted afterwards."""
    from api import create_app
    from shared import config

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
    delete_matching(svc.redis, f"{{{scratch}}}*")
    return post


def phase_profile(ctx: Context) -> None:
    """What one recommendation and one single-event POST spend their time on."""
    from api import create_app
    from shared import config

    app = create_app(config.load(ctx.stack.env))
    svc = app.extensions["movierec"]
    model = svc.models.get()
    rows, users, heavy_users = profile_recommendation(ctx, svc, app.test_client(), model)
    ctx.results["profile"] = {"recommendation": rows, "post": profile_post(ctx),
                              "heavy_users": heavy_users, "users": users,
                              "recommender": type(model.recommender).__name__,
                              "svd_strategy_scores_with": type(model.svd).__name__}

