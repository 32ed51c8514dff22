"""What a list may name: the filters a request sets (genres, years, movies to leave out), and
the catalogue's genres and years held as arrays, so that a filter is one mask over any movies.

Filtering happens before a list is cut to its length: a strategy ranks only the movies the
filter allows, and :mod:`shared.recsys.strategies` fills a filtered list that comes up short
from the model's predicted ratings, then from the rest of the catalogue, so that a "Comedy"
row has ``n`` comedies whenever ``n`` comedies the user has not rated exist.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from shared.recsys.vocabulary import Vocabulary


@dataclass(frozen=True)
class ListFilter:
    """A request's filters: any of ``genres`` (lower-cased), released from ``year_min`` to
    ``year_max`` (either may be None), none of ``exclude``. Empty, it allows every movie."""
    genres: frozenset[str] = frozenset()
    year_min: int | None = None
    year_max: int | None = None
    exclude: frozenset[int] = field(default_factory=frozenset)

    @property
    def narrows(self) -> bool:
        """Whether it allows only movies whose catalogue entry matches (genres or years): a
        movie missing from the catalogue is then left out."""
        return bool(self.genres) or self.year_min is not None or self.year_max is not None

    def __bool__(self) -> bool:
        return self.narrows or bool(self.exclude)

    def cache_key(self) -> str:
        """A short text that tells filters apart, for the keys of cached lists ('' when it
        filters nothing): the movies left out as a digest, since up to 500 may be named."""
        if not self:
            return ""
        parts = []
        if self.genres:
            parts.append("g=" + ",".join(sorted(self.genres)))
        if self.year_min is not None or self.year_max is not None:
            parts.append(f"y={self.year_min or ''}-{self.year_max or ''}")
        if self.exclude:
            ids = ",".join(map(str, sorted(self.exclude))).encode()
            parts.append("x=" + hashlib.blake2b(ids, digest_size=8).hexdigest())
        return ";".join(parts)


NO_FILTER = ListFilter()


class Facets:
    """The catalogue's genres and release years by movie, as arrays over its movie ids: built
    once per revision of the catalogue, read by every filtered request."""

    def __init__(self, movies: Mapping[int, Mapping]):
        ids = np.fromiter(movies.keys(), dtype=np.int64, count=len(movies))
        self.movies = Vocabulary(ids)
        ordered = [movies[int(m)] for m in self.movies.ids]
        # one slot more than the catalogue, read by the index -1 of a movie not in it
        self._years = np.zeros(len(ordered) + 1, dtype=np.int32)  # 0: no year
        self._years[:-1] = [entry.get("year") or 0 for entry in ordered]
        by_genre: dict[str, list[int]] = {}
        self.genre_names: dict[str, str] = {}  # lower-cased -> as the catalogue spells it
        for position, entry in enumerate(ordered):
            for genre in entry.get("genres") or ():
                key = genre.lower()
                self.genre_names.setdefault(key, genre)
                by_genre.setdefault(key, []).append(position)
        self._genres = {}
        for key, positions in by_genre.items():
            member = np.zeros(len(ordered) + 1, dtype=bool)
            member[positions] = True
            self._genres[key] = member

    def allowed(self, movie_ids, list_filter: ListFilter) -> np.ndarray:
        """Whether ``list_filter`` allows each of ``movie_ids`` (a boolean array)."""
        movie_ids = np.asarray(movie_ids, dtype=np.int64)
        ok = np.ones(len(movie_ids), dtype=bool)
        if list_filter.narrows:
            position = self.movies.index(movie_ids, missing="negative")
            ok &= position >= 0
            if list_filter.genres:
                ok &= np.logical_or.reduce([self._genres[g][position]
                                            for g in list_filter.genres if g in self._genres]
                                           or [np.zeros(len(movie_ids), dtype=bool)])
            years = self._years[position]
            if list_filter.year_min is not None:
                ok &= years >= list_filter.year_min
            if list_filter.year_max is not None:
                ok &= (years > 0) & (years <= list_filter.year_max)
        if list_filter.exclude:
            ok &= ~np.isin(movie_ids, np.fromiter(list_filter.exclude, dtype=np.int64))
        return ok

    def matching(self, list_filter: ListFilter) -> np.ndarray:
        """The catalogue's movies ``list_filter`` allows, the most recent first (by year, then
        by id, which grows as movies are added): the last of a filtered list's fillers."""
        ids = self.movies.ids
        years = self._years[:-1]
        keep = self.allowed(ids, list_filter)
        order = np.lexsort((-ids[keep], -years[keep]))
        return ids[keep][order]

    def share(self, list_filter: ListFilter) -> float:
        """The share of the catalogue ``list_filter`` allows (1.0 when it narrows nothing):
        how much deeper than ``n`` a filtered read of a ranked counter goes."""
        if not list_filter.narrows or not len(self.movies):
            return 1.0
        return float(self.allowed(self.movies.ids, list_filter).mean())

    def genre_counts(self, movie_ids) -> dict[str, int]:
        """How many of ``movie_ids`` have each genre (lower-cased), genres of none left out."""
        position = self.movies.index(np.asarray(movie_ids, dtype=np.int64), missing="negative")
        counts = {genre: int(member[position].sum()) for genre, member in self._genres.items()}
        return {genre: count for genre, count in counts.items() if count}

    def genre_sets(self, movie_ids) -> np.ndarray:
        """Each of ``movie_ids``'s genres, as a row of booleans over the catalogue's genres
        (none for a movie outside the catalogue)."""
        position = self.movies.index(np.asarray(movie_ids, dtype=np.int64), missing="negative")
        if not self._genres:
            return np.zeros((len(position), 0), dtype=bool)
        return np.stack([member[position] for member in self._genres.values()], axis=1)

    def unknown_genres(self, genres: Iterable[str]) -> list[str]:
        """Those of ``genres`` (lower-cased) that no movie of the catalogue has."""
        return [g for g in genres if g not in self._genres]


@dataclass(frozen=True)
class Allowed:
    """The movies one filtered request may name: its filter over the catalogue's facets."""
    list_filter: ListFilter
    facets: Facets

    def mask(self, movie_ids) -> np.ndarray:
        return self.facets.allowed(movie_ids, self.list_filter)

    def matching(self) -> np.ndarray:
        return self.facets.matching(self.list_filter)

    def share(self) -> float:
        return self.facets.share(self.list_filter)
