"""The strategies the API serves, measured offline: ``served:<strategy>`` for each of
:data:`shared.recsys.strategies.STRATEGIES`.

On a fold, the version is what a retrain on the fold's training part publishes: the pipeline
the trainer runs (:func:`shared.recsys.pipeline.fit_bundle`) and the live counters the store
then holds (:class:`shared.recsys.cluster_counters.PublishedCounters`). Each user's list is
:func:`shared.recsys.strategies.serve` of those, as the API computes it for
``GET /v1/users/<id>/recommendations``. A user the version was trained on keeps their training
cluster; under the ``users:`` protocol a new user is placed by the version's classifier from
their known ratings as the workers do: from the first of them in time that the
:class:`~shared.recsys.placement.Placement` policy places them from; all their ratings join the
cluster's counters, as the store adds them; with too few, the list is the popular fallback.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from shared.recsys import strategies
from shared.recsys.cluster_counters import PublishedCounters
from shared.recsys.evaluation.accuracy import NO_ITEM
from shared.recsys.evaluation.split import Fold
from shared.recsys.pipeline import BundleConfig, fit_bundle
from shared.recsys.placement import Placement
from shared.recsys.ratings import FAVOURITE_RATING, LiveRatings
from shared.recsys.served import LiveModel

PREFIX = "served:"


def served_names() -> list[str]:
    """The model name of every strategy the API serves."""
    return [PREFIX + strategy for strategy in strategies.STRATEGIES]


def strategy_of(name: str) -> str | None:
    """The strategy a ``served:`` model name measures; None for a name without the prefix;
    ``KeyError`` listing the served names for an unknown strategy."""
    key = name.strip().lower()
    if not key.startswith(PREFIX):
        return None
    strategy = key[len(PREFIX):]
    if strategy not in strategies.STRATEGIES:
        raise KeyError(f"unknown served strategy {name!r}; choose from: "
                       f"{', '.join(served_names())}")
    return strategy


@dataclass(frozen=True)
class ServedSetup:
    """How the service is configured where it matters to its lists: the trainer's pipeline
    (k range, smallest cluster, shrinkage...) and when the workers place a new user."""

    pipeline: BundleConfig
    placement: Placement


class PublishedVersion:
    """A version fitted on ``fold.train`` and published: its live model and counters."""

    def __init__(self, fold: Fold, setup: ServedSetup, temporal_validation: bool | None = None):
        """``temporal_validation``: whether the hyper-parameters are chosen on a temporal
        validation split (the trainer's) rather than a random one; None: as the fold's
        protocol is (:attr:`Fold.validation_times`)."""
        started = time.perf_counter()
        X = fold.train
        favourites = sp.csr_matrix(X >= FAVOURITE_RATING, dtype=np.float64)
        times = (fold.validation_times if temporal_validation is None
                 else fold.train_ts if temporal_validation else None)
        bundle = fit_bundle(X, favourites, fold.users, fold.movies, setup.pipeline, progress=False,
                            times=times)
        self.model = LiveModel(bundle)
        self.counters = PublishedCounters(X, self.model.labels, self.model.baseline,
                                          fold.movies.ids, shrink=setup.pipeline.shrink,
                                          favourites=favourites)
        self.fit_seconds = time.perf_counter() - started
        self.fold = fold
        self.favourites = favourites
        self.placement = setup.placement
        self._users: dict[int, tuple[LiveRatings, int | None, sp.csr_matrix | None]] = {}

    def placed(self, placement: Placement) -> PublishedVersion:
        """This version with its new users placed by ``placement``: nothing is fitted again."""
        other = copy.copy(self)
        other.placement, other._users = placement, {}
        return other

    def _user(self, row: int):
        """(live ratings, cluster, ratings joining the cluster) of a test row of the fold."""
        if row not in self._users:
            fold = self.fold
            seen = fold.seen[row]
            ratings = LiveRatings(fold.movies.ids[seen.indices], seen.data)
            if fold.known is None:
                cluster = self.model.training_cluster(int(fold.users.ids[row]))
                joining = None
            elif self.placement.placed_from(len(ratings)):
                cluster, joining = self.model.assign_cluster(self._placed_from(row)), seen
            else:
                cluster, joining = None, None
            self._users[row] = (ratings, cluster, joining)
        return self._users[row]

    def _placed_from(self, row: int) -> LiveRatings:
        """The known ratings of a test row the workers place the user from: the earliest
        ``placement.placed_from`` of them (all of them when the fold has no times)."""
        fold = self.fold
        seen = fold.seen[row]
        first = np.arange(seen.nnz)
        if fold.known_ts is not None:
            first = np.argsort(fold.known_ts[row].data, kind="stable")
        first = np.sort(first[:self.placement.placed_from(seen.nnz)])
        return LiveRatings(fold.movies.ids[seen.indices[first]], seen.data[first])

    def user_id(self, row: int) -> int:
        """The id of the user of a test row: a training user's, or under the ``users:``
        protocol a new user's, whom the version has not seen."""
        fold = self.fold
        return int((fold.users if fold.known_users is None else fold.known_users).ids[row])

    def lists(self, strategy: str, rows: np.ndarray, n: int) -> np.ndarray:
        """(len(rows), n) column indices of the movies ``strategy`` recommends to each row of
        ``fold.seen``, best first; :data:`NO_ITEM` past the end of a shorter list."""
        ranked = np.full((len(rows), n), NO_ITEM, dtype=np.int64)
        for j, row in enumerate(rows):
            ratings, cluster, joining = self._user(int(row))
            serving = strategies.serving_strategy(self.model, ratings, strategy)
            counters = None
            popular: strategies.Ranked = ()
            if serving != "personal":  # as api.recommendations.recommend reads the stores
                if cluster is None:
                    popular = self.counters.popular(strategies.ranked_page(n, len(ratings)))
                else:
                    reads = strategies.cluster_reads(serving, n, len(ratings))
                    counters = self.counters.cluster(cluster, reads, joining=joining)
            items = strategies.serve(self.model, ratings, counters, popular, n, serving,
                                     user_id=self.user_id(int(row))).items
            movies = [item["movie_id"] for item in items]
            ranked[j, :len(movies)] = self.fold.movies.index(movies)
        return ranked
