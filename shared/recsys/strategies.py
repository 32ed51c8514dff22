"""The recommendation strategies the API serves, as pure functions of the live state, so that
the evaluation harness can score exactly what users get.

A strategy reads the active model, the user's live ratings and what it needs of the live
counters of the user's taste cluster (:class:`ClusterCounters`). ``personal`` ranks from the
ratings alone, for a user the top-N model can rank; anyone else is served ``hybrid``
(:func:`serving_strategy`). Movies the user has rated or favoured are never returned. Without
a model or a cluster the answer is the popular movies, flagged as such.

A request may filter its list (:class:`shared.recsys.filters.Allowed`): every strategy then
ranks the allowed movies only, and a list that comes up short is filled from the model's
predicted ratings, then from the rest of the catalogue (:func:`fill`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np

from shared.recsys.diversity import Diversify
from shared.recsys.filters import Allowed
from shared.recsys.models.topn import best
from shared.recsys.ratings import RATING_MAX, RATING_MIN, LiveRatings
from shared.recsys.served import EXPLORED

# personal: the version's top-N model, folded in from the user's ratings of this moment
STRATEGIES = ("personal", "hybrid", "cluster", "cluster-ratings", "svd")
DEFAULT_STRATEGY = "personal"  # the best nDCG@10 (docs/topn-benchmark.md)
# hybrid: predicted rating + this many stars times the share of the user's cluster who like it
CLUSTER_SHARE_WEIGHT = 1.0
HYBRID_FAVOURITES = 500  # the cluster's most favoured movies the hybrid adds a share to
MAX_FILTERED_PAGE = 5_000  # the most entries of a ranked counter one filtered list reads

Ranked = Sequence[tuple[int, float]]  # (movie_id, score), highest score first


@dataclass(frozen=True)
class ClusterReads:
    """How many entries of the cluster's ranked counters a strategy reads."""
    favourites: int = 0
    means: int = 0


@dataclass(frozen=True)
class ClusterCounters:
    """The live counters of one taste cluster, as far as a strategy reads them."""
    cluster: int
    size: int
    # (movie_id, users favouring it), most first
    favourites: tuple[tuple[int, float], ...] = ()
    # (movie_id, shrunk mean, ratings), highest first
    means: tuple[tuple[int, float, int], ...] = ()


@dataclass(frozen=True)
class Recommendations:
    items: list[dict]              # {"movie_id", "score", "reason"}, best first
    fallback: str | None = None    # "popular" when no model or no cluster was there to use


def ranked_page(n: int, n_excluded: int, share: float = 1.0) -> int:
    """Entries of a ranked counter to read to find ``n`` movies when ``n_excluded`` of them may
    be skipped, and a filter allows ``share`` of the catalogue. Unfiltered, enough: at most
    ``n_excluded`` of the page are skipped for being excluded, and once a score is not
    positive none after it is either. Filtered, twice the entries that would hold ``n``
    allowed movies if they were spread evenly, at most ``MAX_FILTERED_PAGE``; a list still
    short is filled (:func:`fill`)."""
    if share >= 1.0:
        return n + n_excluded
    return min(MAX_FILTERED_PAGE, math.ceil(2 * (n + n_excluded) / max(share, 1e-6)))


def cluster_reads(strategy: str, n: int, n_excluded: int, share: float = 1.0) -> ClusterReads:
    """What the serving ``strategy`` reads of the user's cluster for ``n`` movies, a filter
    allowing ``share`` of the catalogue (``personal`` reads none of it)."""
    if strategy == "cluster":
        return ClusterReads(favourites=ranked_page(n, n_excluded, share))
    if strategy == "cluster-ratings":
        return ClusterReads(means=ranked_page(n, n_excluded, share))
    if strategy == "hybrid":
        return ClusterReads(favourites=HYBRID_FAVOURITES)
    return ClusterReads()


def serving_strategy(model, ratings: Mapping[int, float], strategy: str) -> str:
    """The strategy that serves a user who asked for ``strategy``: ``personal`` only if the
    version's top-N model can rank them (:meth:`LiveModel.can_rank`), else ``hybrid``; any
    other as asked. A request decides it once, before reading the stores, since what it
    reads depends on it, and hands it to :func:`serve`."""
    if strategy == "personal" and (model is None or not model.can_rank(ratings)):
        return "hybrid"
    return strategy


def recommend(model, ratings: Mapping[int, float], cluster: ClusterCounters | None,
              popular: Ranked, n: int, strategy: str,
              allowed: Allowed | None = None, diversify: Diversify | None = None,
              user_id: int | None = None) -> Recommendations:
    """The ``n`` movies ``strategy`` recommends to a user: :func:`serve` of the strategy that
    serves them, for callers who read nothing that depends on it."""
    ratings = LiveRatings.of(ratings)
    return serve(model, ratings, cluster, popular, n, serving_strategy(model, ratings, strategy),
                 allowed, diversify, user_id)


def serve(model, ratings: Mapping[int, float], cluster: ClusterCounters | None,
          popular: Ranked, n: int, serving: str,
          allowed: Allowed | None = None, diversify: Diversify | None = None,
          user_id: int | None = None) -> Recommendations:
    """The ``n`` movies the ``serving`` strategy (:func:`serving_strategy`) recommends.

    ``model`` is the active :class:`shared.recsys.served.LiveModel` or None; ``ratings`` maps
    the movies the user rated or favoured to the rating (0.0 when only favoured), best as
    :class:`LiveRatings`; ``cluster`` is what :func:`cluster_reads` of ``serving`` asks of
    the user's cluster, and ``popular`` the ranked popular list the fallback reads
    (``ranked_page`` entries of it). ``allowed``: the movies a filtered list may name (None:
    any); a filtered list that comes up short is filled (:func:`fill`). ``diversify``: the
    list is chosen from the strategy's ``diversify.pool(n)`` best by how they vary their
    genres (:mod:`shared.recsys.diversity`); ``cluster`` and ``popular`` then hold what that
    many movies need. ``user_id``: who asks (None: a guest); ``personal`` gives a training
    user the movies the version's exploration gave them (:meth:`LiveModel.ranked`)."""
    if serving not in STRATEGIES:
        raise ValueError(f"unknown strategy {serving!r}: one of {', '.join(STRATEGIES)}")
    ratings = LiveRatings.of(ratings)
    fallback = None
    shown, n = n, diversify.pool(n) if diversify else n
    if serving == "personal":
        items = _personal(model, ratings, n, allowed, user_id)
    else:
        exclude = set(ratings.movie_ids.tolist())
        if model is None or cluster is None:
            items, fallback = popular_items(popular, n, exclude, allowed), "popular"
        elif serving == "cluster":
            items = _cluster_favourites(cluster, n, exclude, allowed)
        elif serving == "cluster-ratings":
            items = _cluster_means(cluster, n, exclude, allowed)
        else:
            items = _predicted(model, ratings, cluster, n, serving == "hybrid", allowed)
    if allowed is not None:
        items = fill(items, model, ratings, shown, allowed)
    if diversify:
        items = diversify.choose(items, shown)
    return Recommendations(items, fallback=fallback)


def fill(items: list[dict], model, ratings: LiveRatings, n: int,
         allowed: Allowed) -> list[dict]:
    """A filtered list of fewer than ``n`` items, filled with the allowed movies the user has
    not rated and the list does not hold: first those of the highest ratings the model
    predicts for the user (a ranker reads only its candidates, a counter only what users rated
    or favoured), then the rest of the catalogue, the most recent first."""
    if len(items) >= n:
        return items
    items = list(items)
    taken = set(ratings.movie_ids.tolist()) | {item["movie_id"] for item in items}
    if model is not None and model.recommender is not None:
        scores = model.scores(ratings).astype(np.float64)
        ids = model.movies.ids
        scores[~allowed.mask(ids) | np.isin(ids, np.fromiter(taken, dtype=np.int64))] = -np.inf
        for index in best(scores, n - len(items)):
            predicted = float(np.clip(scores[index], RATING_MIN, RATING_MAX))
            items.append({"movie_id": int(ids[index]), "score": round(float(scores[index]), 4),
                          "reason": f"predicted {predicted:.1f} stars for you"})
            taken.add(int(ids[index]))
    if len(items) < n:
        for movie in allowed.matching().tolist():
            if movie not in taken:
                items.append({"movie_id": movie, "score": 0.0,
                              "reason": "in the catalogue, not yet rated enough to rank"})
                if len(items) == n:
                    break
    return items


def because_you_rated(title: str, rating: float) -> str:
    """The reason of a ``personal`` pick: the rated movie that adds most to its score and the
    user's rating of it. The API names the movie by its title; offline, or without a title,
    it is :func:`untitled`."""
    return f"because you rated {title} {rating:g} {'star' if rating == 1 else 'stars'}"


def untitled(movie_id: int) -> str:
    """How a reason names a movie whose title it does not have."""
    return f"movie {movie_id}"


def popular_items(popular: Ranked, n: int, exclude: AbstractSet[int] = frozenset(),
                  allowed: Allowed | None = None) -> list[dict]:
    """The most favoured movies, explained by how many favour them."""
    return [{"movie_id": m, "score": s,
             "reason": f"a favourite of {int(s)} viewer{'s' if s != 1 else ''} on movierec"}
            for m, s in _top_ranked(popular, n, exclude, allowed)]


def _top_ranked(ranked: Sequence[tuple], n: int, exclude: AbstractSet[int],
                allowed: Allowed | None = None) -> list[tuple]:
    """The first ``n`` entries with a positive score whose movie is allowed and not excluded."""
    if allowed is not None and len(ranked):
        keep = allowed.mask([entry[0] for entry in ranked])
        ranked = [entry for entry, kept in zip(ranked, keep.tolist()) if kept]
    out = []
    for entry in ranked:
        if entry[0] not in exclude and entry[1] > 0:
            out.append(entry)
            if len(out) == n:
                break
    return out


def _viewers(size: int) -> str:
    return f"viewer{'s' if size != 1 else ''} in your taste cluster"


def _cluster_favourites(cluster: ClusterCounters, n: int, exclude: set[int],
                        allowed: Allowed | None) -> list[dict]:
    viewers = _viewers(cluster.size)
    return [{"movie_id": m, "score": s,
             "reason": f"liked by {int(s)} of the {cluster.size} {viewers}"}
            for m, s in _top_ranked(cluster.favourites, n, exclude, allowed)]


def _cluster_means(cluster: ClusterCounters, n: int, exclude: set[int],
                   allowed: Allowed | None) -> list[dict]:
    viewers = _viewers(cluster.size)
    return [{"movie_id": m, "score": round(s, 4),
             "reason": f"rated {s:.1f} on average (shrunk toward its overall mean) by "
                       f"{count} of the {cluster.size} {viewers}"}
            for m, s, count in _top_ranked(cluster.means, n, exclude, allowed)]


def _predicted(model, ratings: LiveRatings, cluster: ClusterCounters, n: int,
               with_shares: bool, allowed: Allowed | None) -> list[dict]:
    """Movies by predicted rating (the recommender's, or the SVD's alone without shares); with
    shares, plus ``CLUSTER_SHARE_WEIGHT`` times the share of the cluster who favour them."""
    size = cluster.size
    estimator_scores = model.scores(ratings) if with_shares else model.svd_scores(ratings)
    scores = estimator_scores
    shares = None
    if with_shares and size:
        shares = np.zeros(len(scores))
        ids = np.array([m for m, _ in cluster.favourites], dtype=np.int64)
        index = model.movies.index(ids, missing="negative")
        known = index >= 0
        shares[index[known]] = np.array([s for _, s in cluster.favourites])[known] / size
        scores = estimator_scores + CLUSTER_SHARE_WEIGHT * shares
    items = []
    for movie, index in _top_scores(scores, model.movies, n, ratings, allowed):
        predicted = float(np.clip(estimator_scores[index], RATING_MIN, RATING_MAX))
        reason = f"predicted {predicted:.1f} stars for you"
        if shares is not None and shares[index] > 0:
            reason = (f"liked by {round(shares[index] * size)} of the {size} {_viewers(size)}; "
                      + reason)
        items.append({"movie_id": movie, "score": round(float(scores[index]), 4), "reason": reason})
    return items


def _personal(model, ratings: Mapping[int, float], n: int,
              allowed: Allowed | None, user_id: int | None) -> list[dict]:
    """Movies by the top-N model's score, each explained by the rated movie that adds most to
    its score (``because``: that movie and the user's rating of it), or as a movie few lists
    show that the version gave the user (``EXPLORED``)."""
    return [{"movie_id": movie, "score": round(score, 4), "reason": _reason(why)}
            if why is None or why == EXPLORED else
            {"movie_id": movie, "score": round(score, 4),
             "reason": because_you_rated(untitled(why[0]), why[1]),
             "because": {"movie_id": why[0], "rating": why[1]}}
            for movie, score, why in model.ranked(ratings, n, allowed, user_id)]


def _reason(why) -> str:
    if why == EXPLORED:
        return "close to your taste, and shown in few lists"
    return "recommended for your ratings"


def _top_scores(scores: np.ndarray, movies, n: int, ratings: LiveRatings,
                allowed: Allowed | None):
    """``(movie_id, index)`` of the ``n`` best scores of allowed movies the user has not rated
    or favoured, best first (``movies``: the model's vocabulary)."""
    excluded = movies.index(ratings.movie_ids, missing="negative")
    scores = scores.copy()
    scores[excluded[excluded >= 0]] = -np.inf
    if allowed is not None:
        scores[~allowed.mask(movies.ids)] = -np.inf
    return [(int(movies.ids[index]), int(index)) for index in best(scores, n)]
