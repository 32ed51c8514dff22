"""The catalogue as a process keeps it, reloaded when its revision in Redis moves: every
recommendation names its movies, and reading them from Redis would cost each request a round
trip and a JSON decode per movie."""
from __future__ import annotations

import threading
import time

from shared.store.ratings import RatingStore


class CatalogueCache:
    """Movie entries by id, and their lower-cased titles for search. For the entries the
    revision is checked at most every ``check_every`` seconds (an edit shows in lists within
    that time); a search checks it every time, so a movie just created is found at once."""

    def __init__(self, store: RatingStore, check_every: float = 1.0):
        self.store = store
        self.check_every = check_every
        self._revision = None
        self._movies: dict[int, dict] = {}
        self._titles: list[tuple[str, int]] = []
        self._checked = -float("inf")
        self._lock = threading.Lock()

    def _current(self, check_every: float | None = None) -> None:
        check_every = self.check_every if check_every is None else check_every
        if time.monotonic() - self._checked < check_every:
            return
        with self._lock:
            if time.monotonic() - self._checked < check_every:
                return
            revision = self.store.catalogue_revision()
            if revision != self._revision:
                movies = self.store.all_movies()
                self._titles = [(info["title"].lower(), m) for m, info in sorted(movies.items())]
                self._movies, self._revision = movies, revision
            self._checked = time.monotonic()

    def movies_many(self, movie_ids) -> dict[int, dict]:
        """Entries of ``movie_ids`` that exist (as :meth:`RatingStore.movies_many`)."""
        self._current()
        movies = self._movies
        return {m: movies[m] for m in map(int, movie_ids) if m in movies}

    def search(self, query: str, limit: int) -> list[int]:
        """Movies whose title holds every word of ``query``, by movie id."""
        self._current(check_every=0.0)
        words = query.lower().split()
        hits = [m for title, m in self._titles if all(w in title for w in words)]
        return hits[:limit]
