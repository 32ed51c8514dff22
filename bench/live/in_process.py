"""Phase 2: in this process, on the same Redis and model while the services idle, what one
recommendation and one single-event POST spend their time on, and what the other lists (a
genre row, page 2, the home screen's rows, a guest's list, the trending movies) cost beside the
unfiltered one."""
from __future__ import annotations

import json
import os
import time

from .lists import guest_body, stores_of, top_genre
from .pipeline import delete_matching
from .processes import Context
from .settings import API_KEY


def keyed_client(app):
    """A test client sending the benchmark's key, as the HTTP runs do."""
    web = app.test_client()
    web.environ_base["HTTP_X_API_KEY"] = API_KEY
    return web


def _mean_ms(fn, repeat: int) -> float:
    for _ in range(5):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1000


def profile_recommendation(ctx: Context, svc, web, model) -> tuple[list[dict], int, int]:
    """Every user once, part by part, for the served default strategy: (a row per part,
    users, users with >= 500 ratings)."""
    import numpy as np

    from api.recommendations import recommend, with_metadata
    from shared.recsys.strategies import DEFAULT_STRATEGY
    from shared.store.cache import Lookup

    names = ["redis: lookup (the list, or the user's revision, ratings and cluster)",
             "the user's ratings as model indices (LiveModel.profile)",
             f"the 10 best movies of the model ({type(model.ranker).__name__}.top_one)",
             f"the {DEFAULT_STRATEGY} list with its reasons (strategies.recommend)",
             "titles and genres (with_metadata)",
             "whole GET, computed (its cache entry deleted first)",
             "whole GET, computed after a change (its live view deleted too)",
             "whole GET, cached"]
    parts = {name: [] for name in names}
    n_ratings = []
    url = "/v1/users/{}/recommendations?n=10"
    for user in ctx.users:
        svc.redis.delete(svc.keys.recommendations_cache(user))
        t = time.perf_counter()
        state = svc.look_up_recommendations(Lookup(user, model.version, "bench-profile"))
        parts[names[0]].append(time.perf_counter() - t)
        n_ratings.append(len(state.ratings))
        t = time.perf_counter()
        profile = model.profile(state.ratings)
        parts[names[1]].append(time.perf_counter() - t)
        t = time.perf_counter()
        model.ranker.top_one(*profile, profile[0], 10)
        parts[names[2]].append(time.perf_counter() - t)
        t = time.perf_counter()
        result = recommend(svc, model, user, 10, DEFAULT_STRATEGY, state.ratings, state.cluster)
        parts[names[3]].append(time.perf_counter() - t)
        t = time.perf_counter()
        with_metadata(svc, result["items"])
        parts[names[4]].append(time.perf_counter() - t)
        for name in names[-3:]:
            if name == names[-2]:  # as the ratings script leaves a user who just changed
                svc.lists_to_keep.flush()  # the list just computed: kept now, then dropped
                svc.redis.delete(svc.keys.recommendations_cache(user), svc.keys.user_live(user))
            t = time.perf_counter()
            web.get(url.format(user))
            parts[name].append(time.perf_counter() - t)
    heavy = np.asarray(n_ratings) >= 500
    rows = []
    for name, values in parts.items():
        ms = np.asarray(values) * 1000
        rows.append({"part": name, "mean": ms.mean(), "p50": np.percentile(ms, 50),
                     "p99": np.percentile(ms, 99), "max": ms.max(),
                     "heavy_share": ms[heavy].sum() / ms.sum()})
    return rows, len(n_ratings), int(heavy.sum())


# (key, what is timed) of profile_lists, in the order each user's requests are made
LISTS = (("list", "unfiltered list, computed: `GET /v1/users/<id>/recommendations?n=10`"),
         ("genre", "genre row, computed: the same `&genre=<the user's most-rated genre>`"),
         ("page2", "page 2, computed: the same `?n=10&offset=10`"),
         ("rows", "home screen, computed: `GET /v1/users/<id>/rows`"),
         ("guest", "guest list: `POST /v1/recommendations` with the user's ratings"),
         ("trending", "`GET /v1/movies/trending?window=7d`"))


def profile_lists(ctx: Context, svc, web) -> dict:
    """Every user once, each of ``LISTS`` timed through the test client, the computed ones
    with the user's cached lists deleted first (and the lists waiting to be kept written
    first, so that none is kept after the delete or on the timed request's round trip)."""
    import numpy as np

    from api.guests import MAX_GUEST_RATINGS

    _, facets = stores_of(ctx)
    times = {key: [] for key, _ in LISTS}
    failed = {key: 0 for key, _ in LISTS}
    capped = 0
    for user in ctx.users:
        ratings = svc.ratings.user_ratings(user)  # prepared before any timing
        genre = top_genre(facets, ratings)
        body, cut = guest_body(ratings, MAX_GUEST_RATINGS)
        capped += cut
        base = f"/v1/users/{user}"
        requests = (  # (key, method, path, query or body)
            ("list", "GET", f"{base}/recommendations", {"query_string": {"n": 10}}),
            ("genre", "GET", f"{base}/recommendations",
             {"query_string": {"n": 10, "genre": genre}}),
            ("page2", "GET", f"{base}/recommendations",
             {"query_string": {"n": 10, "offset": 10}}),
            ("rows", "GET", f"{base}/rows", {}),
            ("guest", "POST", "/v1/recommendations",
             {"data": body, "content_type": "application/json"}),
            ("trending", "GET", "/v1/movies/trending", {"query_string": {"window": "7d"}}),
        )
        for key, method, path, how in requests:
            svc.lists_to_keep.flush()
            if key in ("list", "genre", "page2", "rows"):
                svc.redis.delete(svc.keys.recommendations_cache(user))
            t = time.perf_counter()
            response = web.open(path, method=method, **how)
            times[key].append(time.perf_counter() - t)
            failed[key] += response.status_code != 200
    svc.lists_to_keep.flush()
    rows = []
    for key, label in LISTS:
        ms = np.asarray(times[key]) * 1000
        rows.append({"key": key, "part": label, "mean": ms.mean(), "p50": np.percentile(ms, 50),
                     "p99": np.percentile(ms, 99), "max": ms.max(), "failed": failed[key]})
    return {"rows": rows, "users": len(ctx.users), "guest_capped": capped,
            "guest_limit": MAX_GUEST_RATINGS}


def profile_post(ctx: Context) -> dict[str, float]:
    """Mean ms of a single-event POST and of its parts, on a scratch prefix and queue that no
    worker reads, deleted afterwards."""
    from api import create_app
    from shared import config

    scratch = f"bench-live-profile-{os.getpid()}"
    app = create_app(config.load(dict(ctx.stack.env, MOVIEREC_PREFIX=scratch,
                                      MOVIEREC_QUEUE=scratch)))
    svc, web = app.extensions["movierec"], keyed_client(app)
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
    web = keyed_client(app)
    rows, users, heavy_users = profile_recommendation(ctx, svc, web, model)
    post = profile_post(ctx)
    lists = profile_lists(ctx, svc, web)  # after the figures above, measured as before
    ctx.results["profile"] = {"recommendation": rows, "post": post,
                              "heavy_users": heavy_users, "users": users,
                              "ranker": type(model.ranker).__name__, "lists": lists}

