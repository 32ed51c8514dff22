"""Recommendation lists as the API serves them: the live state read from the stores, the
strategy (:mod:`shared.recsys.strategies`) applied, movie metadata added, the body cached."""
from __future__ import annotations

import numpy as np

from api.encoding import encode
from shared.recsys import strategies
from shared.recsys.diversity import Diversify
from shared.recsys.filters import NO_FILTER, Allowed, ListFilter
from shared.store.cache import ComputedList, Lookup


def allowed_by(svc, list_filter: ListFilter) -> Allowed | None:
    """What a request's filter allows, over the catalogue this process holds (None: all)."""
    return Allowed(list_filter, svc.catalogue_cache.facets()) if list_filter else None


def diversify_by(svc, diversity: float) -> Diversify | None:
    """How a request's ``diversity`` varies its list's genres (None: not at all)."""
    return Diversify(diversity, svc.catalogue_cache.facets()) if diversity > 0 else None


def popular(svc, n: int, allowed: Allowed | None = None) -> list[dict]:
    """The ``n`` most favoured movies (of those ``allowed``)."""
    share = allowed.share() if allowed else 1.0
    n_excluded = len(allowed.list_filter.exclude) if allowed else 0
    ranked = svc.counters.popular(strategies.ranked_page(n, n_excluded, share))
    return strategies.popular_items(ranked, n, allowed=allowed)


WINDOW_WORDS = {"24h": "24 hours", "7d": "7 days"}


def trending(svc, window: str, n: int, allowed: Allowed | None = None) -> list[dict]:
    """The ``n`` movies rated or favoured most in the last ``window`` (of those ``allowed``,
    drawn from the head each process keeps: :class:`shared.store.counters.TrendingCache`)."""
    ranked = svc.trending.get(window)
    if allowed is None:
        chosen = range(min(n, len(ranked)))
    else:
        chosen = np.flatnonzero(allowed.mask([m for m, _ in ranked]))[:n].tolist() if ranked \
            else []
    words = WINDOW_WORDS[window]
    out = []
    for i in chosen:
        movie, events = ranked[i]
        times = round(events)
        out.append({"movie_id": movie, "score": round(events, 2),
                    "reason": f"rated or favoured {times} time{'s' if times != 1 else ''} in the "
                              f"last {words}"})
    return out


def recommend(svc, model, user_id: int, n: int, strategy: str, ratings: dict,
              cluster: int | None, allowed: Allowed | None = None,
              diversify: Diversify | None = None) -> dict:
    """The response body for one user, computed from their live ``ratings`` and ``cluster``
    and ``model`` (or None), of the movies ``allowed`` lets through (None: any), their genres
    varied as ``diversify`` asks (None: as ranked)."""
    serving = strategies.serving_strategy(model, ratings, strategy)
    counters, ranked_popular = None, ()
    if serving != "personal":  # the top-N model ranks from the ratings alone
        share = allowed.share() if allowed else 1.0  # (a pass over the catalogue)
        n_excluded = len(ratings) + (len(allowed.list_filter.exclude) if allowed else 0)
        depth = diversify.pool(n) if diversify else n
        if cluster is None:
            ranked_popular = svc.counters.popular(strategies.ranked_page(depth, n_excluded,
                                                                         share))
        else:
            counters = svc.counters.cluster_counters(
                model.version, cluster,
                strategies.cluster_reads(serving, depth, n_excluded, share))
    result = strategies.serve(model, ratings, counters, ranked_popular, n, serving, allowed,
                              diversify, user_id)
    return {"user_id": user_id, "strategy": strategy,
            "model_version": model.version if model else None, "cluster": cluster,
            "fallback": result.fallback, "items": result.items}


def with_metadata(svc, items: list[dict]) -> list[dict]:
    """Items with their movies' titles and genres; a reason that names a rated movie
    (``because``) names it by its title."""
    because = [item["because"]["movie_id"] for item in items if "because" in item]
    info = svc.catalogue_cache.movies_many([item["movie_id"] for item in items] + because)
    out = []
    for item in items:
        meta = info.get(item["movie_id"], {})
        entry = {"movie_id": item["movie_id"], "title": meta.get("title"),
                 "genres": meta.get("genres", []), "score": item["score"],
                 "reason": item["reason"]}
        if "because" in item:
            rated = item["because"]
            title = (info.get(rated["movie_id"], {}).get("title")
                     or strategies.untitled(rated["movie_id"]))
            entry["reason"] = strategies.because_you_rated(title, rated["rating"])
            entry["because"] = {**rated, "title": title}
        out.append(entry)
    return out


def cached_recommendations(svc, user_id: int, n: int, strategy: str, offset: int = 0,
                           list_filter: ListFilter = NO_FILTER, diversity: float = 0.0) -> bytes:
    """The JSON response, cached until the user's ratings or cluster change (the Lua script
    drops the user's cache then) or the model version moves. Changes other users make to the
    cluster counters show after at most ``recommendation_ttl``. The list is kept on the way
    of the process's next lookup (:mod:`api.write_behind`); a Redis too full to keep it costs
    the cache, not an answer.

    A page (``offset``) is the ``offset + n`` best cut to its last ``n``: while the user's
    state, the version and the cached lists stay, pages follow each other with no repeat and
    no gap; when one of them moves between two pages, the next page is cut from the new list."""
    model = svc.models.get()
    version = model.version if model else None
    field = f"{version or '-'}|{strategy}|{n}"
    if offset:
        field += f"|o{offset}"
    if diversity:
        field += f"|d{diversity:g}"
    if list_filter:
        field += f"|{list_filter.cache_key()}"
    found = svc.look_up_recommendations(Lookup(user_id, version, field))
    if isinstance(found, bytes):
        return found
    result = recommend(svc, model, user_id, offset + n, strategy, found.ratings, found.cluster,
                       allowed_by(svc, list_filter), diversify_by(svc, diversity))
    result["items"] = with_metadata(svc, result["items"][offset:])
    result["offset"] = offset
    body = encode(result)
    svc.lists_to_keep.add(ComputedList(user_id, found.revision, field, body,
                                       svc.settings.recommendation_ttl))
    return body
