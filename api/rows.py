"""``GET /v1/users/<id>/rows``: a home screen in one call. The personal row, a row for each of
the user's top genres, a "because you rated" row for each of their latest high ratings, and
what is trending, overall and among the movies the personal row cannot show yet (new or
little known), each with its reason, and no movie twice on the screen unless asked.

The rows come from the same strategies as the lists (:mod:`api.recommendations`): a genre row
is the personal list filtered to the genre, a "because" row the movies most like the rated
one. The screen is cached with the user's lists, and dropped with them when the user changes."""
from __future__ import annotations

import numpy as np

from api.encoding import encode
from api.recommendations import popular, recommend, trending, with_metadata
from shared.recsys import strategies
from shared.recsys.filters import Allowed, ListFilter
from shared.recsys.ratings import FAVOURITE_RATING, LiveRatings
from shared.store.cache import ComputedList, Lookup

LIKED = 3.5  # ratings from this up say which genres a user likes
RECENT_CANDIDATES = 100  # the user's best ratings looked at for the latest high ones
TRENDING_WINDOW = "7d"


def top_genres(facets, ratings: LiveRatings, count: int) -> list[str]:
    """The ``count`` genres of the most movies the user liked (rated ``LIKED`` or more, or
    favoured), as the catalogue spells them; ties by name."""
    liked = ratings.movie_ids[(ratings.ratings >= LIKED) | (ratings.ratings == 0)]
    counts = facets.genre_counts(liked)
    ranked = sorted(counts, key=lambda genre: (-counts[genre], genre))
    return [facets.genre_names[genre] for genre in ranked[:count]]


def latest_high_ratings(svc, user_id: int, ratings: LiveRatings, count: int
                        ) -> list[tuple[int, float]]:
    """The user's ``count`` latest ratings of ``FAVOURITE_RATING`` or more, as
    ``(movie_id, rating)``, newest first: the latest among their best ``RECENT_CANDIDATES``."""
    high = ratings.ratings >= FAVOURITE_RATING
    if not count or not high.any():
        return []
    movies, values = ratings.movie_ids[high], ratings.ratings[high]
    best = sorted(zip(movies.tolist(), values.tolist()), key=lambda mv: -mv[1])
    best = best[:RECENT_CANDIDATES]
    when = svc.ratings.rated_at(user_id, [m for m, _ in best])
    return sorted(best, key=lambda mv: -when.get(mv[0], 0.0))[:count]


class Screen:
    """The rows of one screen as they are made, and the movies they show."""

    def __init__(self, facets, ratings: LiveRatings, repeats: bool):
        self.facets, self.ratings, self.repeats = facets, ratings, repeats
        self.rows: list[dict] = []
        self.shown: set[int] = set()

    def allowed(self, genre: str | None = None, leave_out_rated: bool = False) -> Allowed:
        """What the next row may name: the genre's movies (or any), none on the screen
        already unless repeats are asked for, and none the user rated when the row's
        ranking does not leave them out itself."""
        exclude = set() if self.repeats else set(self.shown)
        if leave_out_rated:
            exclude |= set(self.ratings.movie_ids.tolist())
        genres = frozenset() if genre is None else frozenset({genre.lower()})
        return Allowed(ListFilter(genres=genres, exclude=frozenset(exclude)), self.facets)

    def add(self, row: dict, items: list[dict]) -> None:
        if items:
            self.rows.append({**row, "items": items})
            self.shown.update(item["movie_id"] for item in items)


def home_rows(svc, user_id: int, n: int, genre_rows: int, because_rows: int,
              repeats: bool) -> bytes:
    """The JSON response: cached as a list is (:func:`api.recommendations.
    cached_recommendations`), under a field of its own."""
    model = svc.models.get()
    version = model.version if model else None
    field = f"{version or '-'}|rows|{n}|{genre_rows}|{because_rows}|{int(repeats)}"
    found = svc.look_up_recommendations(Lookup(user_id, version, field))
    if isinstance(found, bytes):
        return found
    ratings, cluster = found.ratings, found.cluster
    screen = Screen(svc.catalogue_cache.facets(), ratings, repeats)
    personal = recommend(svc, model, user_id, n, strategies.DEFAULT_STRATEGY, ratings, cluster)
    screen.add({"kind": "personal", "title": "Recommended for you",
                "reason": "ranked for your ratings" if personal["fallback"] is None
                else "popular on movierec (rate a few movies for a list of your own)"},
               personal["items"])
    for genre in top_genres(screen.facets, ratings, genre_rows):
        row = recommend(svc, model, user_id, n, strategies.DEFAULT_STRATEGY, ratings, cluster,
                        screen.allowed(genre))
        screen.add({"kind": "genre", "genre": genre, "title": f"{genre} for you",
                    "reason": f"{genre} is among the genres you rate highest"}, row["items"])
    if model is not None:
        latest = latest_high_ratings(svc, user_id, ratings, because_rows)
        titles = svc.catalogue_cache.movies_many([m for m, _ in latest])
        for movie, rating in latest:
            title = titles.get(movie, {}).get("title") or strategies.untitled(movie)
            reason = strategies.because_you_rated(title, rating)
            similar = model.similar_movies(movie, n, "hybrid",
                                           screen.allowed(leave_out_rated=True))
            screen.add({"kind": "because", "because": {"movie_id": movie, "title": title,
                                                      "rating": rating},
                        "title": f"Because you rated {title}", "reason": reason},
                       [{"movie_id": m, "score": round(s, 4), "reason": reason}
                        for m, s in similar])
    add_trending(svc, screen, n)
    if model is not None:
        add_rising(svc, model, screen, n)
    for row in screen.rows:
        row["items"] = with_metadata(svc, row["items"])
    body = encode({"user_id": user_id, "model_version": version, "cluster": cluster,
                   "rows": screen.rows})
    svc.lists_to_keep.add(ComputedList(user_id, found.revision, field, body,
                                       svc.settings.recommendation_ttl))
    return body


def add_trending(svc, screen: Screen, n: int) -> None:
    """What is trending this week that the user has not rated nor seen on the screen; the
    most favoured movies when nothing is."""
    allowed = screen.allowed(leave_out_rated=True)
    items = trending(svc, TRENDING_WINDOW, n, allowed)
    if items:
        screen.add({"kind": "trending", "window": TRENDING_WINDOW, "title": "Trending this week",
                    "reason": "rated or favoured most on movierec in the last 7 days"}, items)
        return
    screen.add({"kind": "popular", "title": "Popular on movierec",
                "reason": "favoured by the most viewers on movierec"},
               popular(svc, n, allowed))


class Unranked:
    """The movies of ``allowed`` the version's ranker cannot list (:meth:`LiveModel.ranks`):
    released or first rated since it was trained, or too little rated then."""

    def __init__(self, allowed: Allowed, model):
        self.allowed, self.model = allowed, model

    def mask(self, movie_ids) -> np.ndarray:
        return self.allowed.mask(movie_ids) & ~self.model.ranks(movie_ids)


def add_rising(svc, model, screen: Screen, n: int) -> None:
    """What is trending this week among the movies the personal row cannot show: until the
    next retrain, the way to a screen for a movie people have just started to rate."""
    items = trending(svc, TRENDING_WINDOW, n, Unranked(screen.allowed(leave_out_rated=True),
                                                       model))
    screen.add({"kind": "rising", "window": TRENDING_WINDOW, "title": "New and rising",
                "reason": "rated or favoured lately on movierec, and new or little known"},
               items)
