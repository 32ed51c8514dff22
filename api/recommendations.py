"""The four recommendation strategies, each reading live counters or the active model.

Movies the user has rated or favoured are never returned. Without a model or a cluster the
answer is the popular movies, flagged as such.
"""
from __future__ import annotations

import json

import numpy as np

STRATEGIES = ("hybrid", "cluster", "cluster-ratings", "svd")
# hybrid: predicted rating + this many stars times the share of the user's cluster who like it
CLUSTER_SHARE_WEIGHT = 1.0


def _top_from_zset(redis, key: str, n: int, exclude: set[int]) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    start, page = 0, n + len(exclude) + 10
    while len(out) < n:
        rows = redis.zrevrange(key, start, start + page - 1, withscores=True)
        for member, score in rows:
            movie = int(member)
            if movie not in exclude and score > 0:
                out.append((movie, float(score)))
                if len(out) == n:
                    break
        if len(rows) < page:
            break
        start += page
    return out


def _top_scores(scores: np.ndarray, movie_ids: np.ndarray, n: int, exclude: set[int]):
    take = min(len(scores), n + len(exclude))
    if take == 0:
        return []
    top = np.argpartition(-scores, take - 1)[:take]
    top = top[np.argsort(-scores[top], kind="stable")]
    out = []
    for index in top:
        movie = int(movie_ids[index])
        if movie not in exclude:
            out.append((movie, index))
            if len(out) == n:
                break
    return out


def popular(svc, n: int, exclude: set[int]) -> list[dict]:
    return [{"movie_id": m, "score": s,
             "reason": f"a favourite of {int(s)} viewer{'s' if s != 1 else ''} on movierec"}
            for m, s in _top_from_zset(svc.redis, svc.keys.popular, n, exclude)]


def recommend(svc, model, user_id: int, n: int, strategy: str) -> dict:
    """The response body for one user, computed from live state and ``model`` (or None)."""
    keys, r = svc.keys, svc.redis
    ratings = svc.store.user_ratings(user_id)
    exclude = set(ratings)
    cluster = None
    if model is not None:
        raw = r.hget(keys.assignments(model.version), user_id)
        cluster = int(raw) if raw is not None else None
    body = {"user_id": user_id, "strategy": strategy,
            "model_version": model.version if model else None, "cluster": cluster,
            "fallback": None}
    if model is None or cluster is None:
        body["fallback"] = "popular"
        body["items"] = popular(svc, n, exclude)
        return body
    size = int(r.hget(keys.cluster_sizes(model.version), cluster) or 0)
    viewers = f"viewer{'s' if size != 1 else ''} in your taste cluster"

    if strategy == "cluster":
        items = [{"movie_id": m, "score": s, "reason": f"liked by {int(s)} of the {size} {viewers}"}
                 for m, s in _top_from_zset(r, keys.cluster_favourites(model.version, cluster), n, exclude)]
    elif strategy == "cluster-ratings":
        top = _top_from_zset(r, keys.cluster_means(model.version, cluster), n, exclude)
        counts = r.hmget(keys.cluster_counts(model.version, cluster), [m for m, _ in top]) if top else []
        items = [{"movie_id": m, "score": round(s, 4),
                  "reason": f"rated {s:.1f} on average (shrunk toward its overall mean) by "
                            f"{int(c or 0)} of the {size} {viewers}"}
                 for (m, s), c in zip(top, counts)]
    else:
        live = {m: v[0] for m, v in ratings.items()}
        estimator_scores = model.svd_scores(live) if strategy == "svd" else model.scores(live)
        scores = estimator_scores
        shares = None
        if strategy == "hybrid" and size:
            fav = r.zrevrange(keys.cluster_favourites(model.version, cluster), 0, 499, withscores=True)
            shares = np.zeros(len(scores))
            ids = np.array([int(m) for m, _ in fav], dtype=np.int64)
            index = model.movies.index(ids, missing="negative")
            known = index >= 0
            shares[index[known]] = np.array([s for _, s in fav])[known] / size
            scores = estimator_scores + CLUSTER_SHARE_WEIGHT * shares
        items = []
        for movie, index in _top_scores(scores, model.movies.ids, n, exclude):
            predicted = float(np.clip(estimator_scores[index], 0.5, 5.0))
            reason = f"predicted {predicted:.1f} stars for you"
            if shares is not None and shares[index] > 0:
                reason = (f"liked by {round(shares[index] * size)} of the {size} {viewers}; "
                          + reason)
            items.append({"movie_id": movie, "score": round(float(scores[index]), 4), "reason": reason})
    body["items"] = items
    return body


def with_metadata(svc, items: list[dict]) -> list[dict]:
    info = svc.store.movies_many([item["movie_id"] for item in items])
    out = []
    for item in items:
        meta = info.get(item["movie_id"], {})
        out.append({"movie_id": item["movie_id"], "title": meta.get("title"),
                    "genres": meta.get("genres", []), "score": item["score"],
                    "reason": item["reason"]})
    return out


def cached_recommendations(svc, user_id: int, n: int, strategy: str) -> bytes:
    """The JSON response, cached until the user's ratings or cluster change (the Lua script
    drops the user's cache then) or the model version moves. Changes other users make to the
    cluster counters show after at most ``recommendation_ttl``."""
    model = svc.models.get()
    key = svc.keys.recommendations_cache(user_id)
    field = f"{model.version if model else '-'}|{strategy}|{n}"
    cached = svc.cached_body((key, field))
    if cached is not None:
        return cached
    revision = svc.store.user_revision(user_id)
    result = recommend(svc, model, user_id, n, strategy)
    result["items"] = with_metadata(svc, result["items"])
    body = json.dumps(result, separators=(",", ":")).encode()
    svc.store.cache_recommendations(user_id, revision, field, body, svc.settings.recommendation_ttl)
    return body
