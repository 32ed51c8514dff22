"""A list as the API computes it (api/recommendations.py), on doubles of the version and the
counters: the strategy that serves the user is decided once, and what is read of the stores
follows from it."""
from types import SimpleNamespace

import numpy as np
import pytest

from api.recommendations import recommend, with_metadata
from shared.recsys.evaluation.accuracy import NO_ITEM
from shared.recsys.evaluation.served import PublishedVersion, ServedSetup
from shared.recsys.evaluation.split import RandomSplit, UserSplit
from shared.recsys.pipeline import BundleConfig
from shared.recsys.placement import Placement
from shared.recsys.ratings import LiveRatings
from shared.recsys.strategies import (
    HYBRID_FAVOURITES,
    STRATEGIES,
    ClusterCounters,
    ClusterReads,
    cluster_reads,
    ranked_page,
    serving_strategy,
)
from shared.recsys.vocabulary import Vocabulary
from tests.unit.recsys.evaluation.synthetic import synthetic_ratings

RATED = LiveRatings([10], [4.5])
PERSONAL = [{"movie_id": 30, "score": 0.9, "reason": "because you rated movie 10 4.5 stars",
             "because": {"movie_id": 10, "rating": 4.5}},
            {"movie_id": 40, "score": 0.5, "reason": "recommended for your ratings"}]
HYBRID = [{"movie_id": 50, "score": 1.5, "reason": "liked by 2 of the 4 viewers in your taste "
                                                   "cluster; predicted 1.0 stars for you"},
          {"movie_id": 20, "score": 0.5, "reason": "predicted 0.5 stars for you"}]
POPULAR = [{"movie_id": 20, "score": 3.0, "reason": "a favourite of 3 viewers on movierec"},
           {"movie_id": 50, "score": 2.0, "reason": "a favourite of 2 viewers on movierec"}]


class Version:
    """A version whose top-N model can rank the user or not (counting the asks)."""

    version = "v1"

    def __init__(self, can_rank: bool):
        self.movies = Vocabulary([10, 20, 30, 40, 50])
        self.rankable, self.asked = can_rank, 0

    def can_rank(self, ratings):
        self.asked += 1
        return self.rankable

    def ranked(self, ratings, n, allowed=None, user_id=None):  # (unfiltered requests only)
        return [(30, 0.9, (10, 4.5)), (40, 0.5, None)][:n]

    def scores(self, ratings):
        return np.array([4.0, 0.5, 0.2, 0.1, 1.0])

    def svd_scores(self, ratings):
        return self.scores(ratings)


class Counters:
    """The store's live counters, recording each read."""

    def __init__(self):
        self.reads = []

    def popular(self, limit):
        self.reads.append(("popular", limit))
        return ((20, 3.0), (10, 2.5), (50, 2.0))

    def cluster_counters(self, version, cluster, reads):
        self.reads.append(("cluster", version, cluster, reads))
        return ClusterCounters(cluster, 4, favourites=((50, 2.0), (10, 1.0)))


@pytest.mark.parametrize("rankable, cluster, reads, fallback, items", [
    (True, 2, [], None, PERSONAL),
    (True, None, [], None, PERSONAL),
    (False, 2, [("cluster", "v1", 2, ClusterReads(favourites=HYBRID_FAVOURITES))], None, HYBRID),
    (False, None, [("popular", ranked_page(2, 1))], "popular", POPULAR),
], ids=["rankable", "rankable-without-cluster", "hybrid-fallback", "popular-fallback"])
def test_personal_reads_what_the_strategy_serving_the_user_needs(rankable, cluster, reads,
                                                                 fallback, items):
    """A user the top-N model can rank reads nothing of the stores; one it cannot is served
    ``hybrid`` (the cluster's favourites), or the popular list without a cluster. The body
    names the strategy asked for, and the ranker is asked once."""
    model, svc = Version(rankable), SimpleNamespace(counters=Counters())
    body = recommend(svc, model, 7, 2, "personal", RATED, cluster)
    assert model.asked == 1
    assert svc.counters.reads == reads
    assert body == {"user_id": 7, "strategy": "personal", "model_version": "v1",
                    "cluster": cluster, "fallback": fallback, "items": items}


def test_without_a_version_personal_is_the_popular_list():
    svc = SimpleNamespace(counters=Counters())
    body = recommend(svc, None, 7, 2, "personal", RATED, None)
    assert svc.counters.reads == [("popular", ranked_page(2, 1))]
    assert body == {"user_id": 7, "strategy": "personal", "model_version": None,
                    "cluster": None, "fallback": "popular", "items": POPULAR}


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s != "personal"])
def test_every_other_strategy_reads_its_cluster_without_asking_the_ranker(strategy):
    model, svc = Version(can_rank=True), SimpleNamespace(counters=Counters())
    body = recommend(svc, model, 7, 2, strategy, RATED, 2)
    assert model.asked == 0
    assert svc.counters.reads == [("cluster", "v1", 2, cluster_reads(strategy, 2, 1))]
    assert body["strategy"] == strategy and body["fallback"] is None


def test_a_personal_reason_names_the_rated_movie_by_its_title():
    catalogue = {30: {"title": "Heat", "genres": ["Crime"]}, 10: {"title": "Alien"}}
    svc = SimpleNamespace(catalogue_cache=SimpleNamespace(
        movies_many=lambda ids: {m: catalogue[m] for m in ids if m in catalogue}))
    untitled = {"movie_id": 50, "score": 0.1, "reason": "because you rated movie 11 1 star",
                "because": {"movie_id": 11, "rating": 1.0}}
    items = PERSONAL + [untitled]
    assert with_metadata(svc, items) == [
        {"movie_id": 30, "title": "Heat", "genres": ["Crime"], "score": 0.9,
         "reason": "because you rated Alien 4.5 stars",
         "because": {"movie_id": 10, "rating": 4.5, "title": "Alien"}},
        {"movie_id": 40, "title": None, "genres": [], "score": 0.5,
         "reason": "recommended for your ratings"},
        {"movie_id": 50, "title": None, "genres": [], "score": 0.1,
         "reason": "because you rated movie 11 1 star",
         "because": {"movie_id": 11, "rating": 1.0, "title": "movie 11"}}]


class PublishedCountersAsStored:
    """An offline version's counters read as the API reads the store's."""

    def __init__(self, version: PublishedVersion, joining):
        self.version, self.joining = version, joining

    def popular(self, limit):
        return self.version.counters.popular(limit)

    def cluster_counters(self, model_version, cluster, reads):
        return self.version.counters.cluster(cluster, reads, joining=self.joining)


# EASE reading only the 3 most rated movies: some users it cannot rank, with and without a cluster
NARROW_RANKER = BundleConfig(k_range=(2, 4), min_cluster_size=3,
                             ranker_grid={"max_items": [3], "max_candidates": [3]})


@pytest.mark.parametrize("split, min_ratings_to_assign", [
    (RandomSplit(0.8, 0), 5), (UserSplit(0.7, 0), 5), (UserSplit(0.7, 0), 1000)],
    ids=["training-users", "new-users", "new-users-without-cluster"])
def test_the_offline_evaluation_measures_the_lists_the_api_computes(split, min_ratings_to_assign):
    fold = next(split.folds(synthetic_ratings(n_users=80, n_movies=60, per_user=20)))
    version = PublishedVersion(fold, ServedSetup(NARROW_RANKER, Placement(min_ratings_to_assign)))
    rows = np.arange(fold.seen.shape[0])
    served = {serving_strategy(version.model, version._user(row)[0], "personal") for row in rows}
    assert served == {"personal", "hybrid"}
    for strategy in STRATEGIES:
        lists = version.lists(strategy, rows, 10)
        for row in rows:
            ratings, cluster, joining = version._user(row)
            svc = SimpleNamespace(counters=PublishedCountersAsStored(version, joining))
            body = recommend(svc, version.model, 1, 10, strategy, ratings, cluster)
            movies = fold.movies.index([item["movie_id"] for item in body["items"]]).tolist()
            assert lists[row].tolist() == movies + [NO_ITEM] * (10 - len(movies))
