"""The served strategies as pure functions: no Redis, a model with fixed scores."""
import copy
import random

import numpy as np
import pytest

from shared.recsys.models.ease import EASE
from shared.recsys.persist import ModelBundle
from shared.recsys.ratings import LiveRatings
from shared.recsys.served import EXPLORED, LiveModel
from shared.recsys.strategies import (
    HYBRID_FAVOURITES,
    STRATEGIES,
    ClusterCounters,
    ClusterReads,
    because_you_rated,
    cluster_reads,
    popular_items,
    ranked_page,
    recommend,
    serve,
    serving_strategy,
    untitled,
)
from shared.recsys.vocabulary import Vocabulary
from tests.unit.recsys.models.synthetic import low_rank_ratings


class FixedScores:
    """What the strategies use of a LiveModel: its movies and the two kinds of scores (no
    top-N model)."""

    ranker = None
    recommender = "what fills a filtered list"

    def __init__(self, movie_ids, scores, svd_scores):
        self.movies = Vocabulary(movie_ids)
        self._scores = np.asarray(scores, dtype=float)
        self._svd_scores = np.asarray(svd_scores, dtype=float)
        self.seen = []

    def scores(self, ratings):
        self.seen.append(dict(ratings))
        return self._scores

    def svd_scores(self, ratings):
        self.seen.append(dict(ratings))
        return self._svd_scores

    def can_rank(self, ratings):
        return False


MOVIES = [10, 20, 30, 40, 50, 60]
MODEL = FixedScores(MOVIES, scores=[3.0, 4.5, 2.0, 5.6, 3.9, 0.2],
                    svd_scores=[4.0, 1.0, 3.0, 2.0, 4.4, 0.1])
POPULAR = ((30, 9.0), (10, 4.0), (60, 1.0), (20, 0.0))


def cluster(size=4, favourites=(), means=()):
    return ClusterCounters(cluster=2, size=size, favourites=tuple(favourites), means=tuple(means))


def ids(result):
    return [item["movie_id"] for item in result.items]


def test_cluster_strategy_ranks_favourites_and_skips_rated_and_unliked_movies():
    counters = cluster(size=5, favourites=[(20, 4.0), (40, 3.0), (10, 1.0), (50, 0.0)])
    result = recommend(MODEL, {40: 4.5, 99: 0.0}, counters, (), 10, "cluster")
    assert result.fallback is None
    assert result.items == [
        {"movie_id": 20, "score": 4.0,
         "reason": "liked by 4 of the 5 viewers in your taste cluster"},
        {"movie_id": 10, "score": 1.0,
         "reason": "liked by 1 of the 5 viewers in your taste cluster"},
    ]
    assert ids(recommend(MODEL, {}, counters, (), 2, "cluster")) == [20, 40]


def test_cluster_ratings_strategy_explains_mean_and_count():
    counters = cluster(size=1, means=[(50, 4.56789, 1), (30, 4.0, 0), (10, 3.25, 1)])
    result = recommend(MODEL, {30: 2.0}, counters, (), 2, "cluster-ratings")
    assert result.items == [
        {"movie_id": 50, "score": 4.5679, "reason": "rated 4.6 on average (shrunk toward its "
                                                    "overall mean) by 1 of the 1 viewer in your "
                                                    "taste cluster"},
        {"movie_id": 10, "score": 3.25, "reason": "rated 3.2 on average (shrunk toward its "
                                                  "overall mean) by 1 of the 1 viewer in your "
                                                  "taste cluster"},
    ]


def test_svd_strategy_ranks_by_the_factorisation_alone_and_clips_the_prediction():
    model = FixedScores(MOVIES, scores=[0] * 6, svd_scores=[4.0, 1.0, 3.0, 2.0, 5.4, 0.1])
    result = recommend(model, {10: 5.0, 60: 0.0}, cluster(favourites=[(20, 4.0)]), (), 3, "svd")
    assert result.items == [
        {"movie_id": 50, "score": 5.4, "reason": "predicted 5.0 stars for you"},
        {"movie_id": 30, "score": 3.0, "reason": "predicted 3.0 stars for you"},
        {"movie_id": 40, "score": 2.0, "reason": "predicted 2.0 stars for you"},
    ]
    assert model.seen == [{10: 5.0, 60: 0.0}]  # favourites-only movies reach the model as 0.0


def test_hybrid_adds_the_weighted_share_of_the_cluster_who_like_a_movie():
    favourites = [(30, 3.0), (50, 1.0), (777, 4.0)]  # 777: a movie the model does not know
    result = recommend(MODEL, {40: 4.0}, cluster(size=4, favourites=favourites), (), 6, "hybrid")
    # predicted + 1 star x share: 30: 2.0 + 3/4, 50: 3.9 + 1/4
    assert [(item["movie_id"], item["score"]) for item in result.items] == [
        (20, 4.5), (50, 4.15), (10, 3.0), (30, 2.75), (60, 0.2)]
    by_movie = {item["movie_id"]: item["reason"] for item in result.items}
    assert by_movie[50] == ("liked by 1 of the 4 viewers in your taste cluster; "
                            "predicted 3.9 stars for you")
    assert by_movie[30] == ("liked by 3 of the 4 viewers in your taste cluster; "
                            "predicted 2.0 stars for you")
    assert by_movie[20] == "predicted 4.5 stars for you"


def test_hybrid_of_an_empty_cluster_is_the_plain_prediction():
    result = recommend(MODEL, {}, cluster(size=0, favourites=[(30, 3.0)]), (), 2, "hybrid")
    assert result.items == [{"movie_id": 40, "score": 5.6, "reason": "predicted 5.0 stars for you"},
                            {"movie_id": 20, "score": 4.5, "reason": "predicted 4.5 stars for you"}]


@pytest.mark.parametrize("model, counters",
                         [(None, cluster(favourites=[(20, 4.0)])), (MODEL, None)])
def test_without_a_model_or_a_cluster_the_popular_movies_are_flagged(model, counters):
    for strategy in STRATEGIES:
        result = recommend(model, {30: 4.0}, counters, POPULAR, 3, strategy)
        assert result.fallback == "popular"
        assert result.items == [
            {"movie_id": 10, "score": 4.0, "reason": "a favourite of 4 viewers on movierec"},
            {"movie_id": 60, "score": 1.0, "reason": "a favourite of 1 viewer on movierec"},
        ]


def test_popular_items_without_exclusions():
    assert [item["movie_id"] for item in popular_items(POPULAR, 2)] == [30, 10]


def test_an_unknown_strategy_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown strategy 'magic'"):
        recommend(MODEL, {}, cluster(), (), 3, "magic")


def test_each_strategy_reads_what_it_ranks():
    assert cluster_reads("cluster", 10, 3) == ClusterReads(favourites=ranked_page(10, 3))
    assert cluster_reads("cluster-ratings", 10, 3) == ClusterReads(means=ranked_page(10, 3))
    assert cluster_reads("hybrid", 10, 3) == ClusterReads(favourites=HYBRID_FAVOURITES)
    assert cluster_reads("svd", 10, 3) == ClusterReads()
    assert cluster_reads("personal", 10, 3) == ClusterReads()  # served, it ranks from ratings alone


def test_one_ranked_page_finds_what_the_whole_ranking_would():
    rng = random.Random(7)
    for _ in range(300):
        length = rng.randint(0, 60)
        scores = sorted((rng.choice([0.0, -1.0, *range(1, 9)]) for _ in range(length)),
                        reverse=True)
        ranked = [(movie, float(s)) for movie, s in zip(rng.sample(range(1, 200), length), scores)]
        rated = {m: 3.0 for m in rng.sample(range(1, 200), rng.randint(0, 40))}
        n = rng.randint(1, 20)
        page = ranked[:ranked_page(n, len(rated))]
        whole = recommend(MODEL, rated, cluster(favourites=ranked), (), n, "cluster")
        assert recommend(MODEL, rated, cluster(favourites=page), (), n, "cluster") == whole
        assert popular_items(page, n, set(rated)) == popular_items(ranked, n, set(rated))


@pytest.fixture(scope="module")
def ease_version():
    """A version whose top-N model is an EASE reading 20 of its 30 movies (ids 1, 11, ...)."""
    X = low_rank_ratings(n_users=40, n_items=30, density=0.4)[0]
    ranker = EASE(l2=5.0, max_items=20, max_candidates=15).fit(X)
    return LiveModel(ModelBundle(
        version="v", manifest={}, estimators={"ranker": ranker},
        arrays={"user_ids": np.arange(40), "movie_ids": np.arange(30) * 10 + 1,
                "labels": np.zeros(40, int)}))


def test_personal_ranks_only_a_user_who_rated_a_movie_the_ranker_reads(ease_version):
    """A user whose ratings are all of movies the top-N model does not read (added after
    training, or outside EASE's inputs) would get movies that all score 0: ``personal``
    falls back as for a user with no rating, here to the popular list (no cluster yet)."""
    model, ranker = ease_version, ease_version.ranker
    movie_ids = model.movies.ids
    outside = movie_ids[np.setdiff1d(np.arange(30), ranker.items_)[:2]]
    popular = tuple((int(m), 9.0 - i) for i, m in enumerate(movie_ids[:5]))
    for live in (LiveRatings([5], [4.5]), LiveRatings(outside, [5.0, 4.0]),
                 LiveRatings([5, movie_ids[ranker.items_[0]]], [4.0, 0.0])):
        assert serving_strategy(model, live, "personal") == "hybrid"
        result = recommend(model, live, None, popular, 3, "personal")
        assert result.fallback == "popular" and len(result.items) == 3
    live = LiveRatings([5, movie_ids[ranker.items_[0]]], [4.0, 3.5])
    assert serving_strategy(model, live, "personal") == "personal"
    result = recommend(model, live, None, popular, 3, "personal")
    assert result.fallback is None and all(item["score"] != 0 for item in result.items)


def test_personal_serves_only_a_user_the_top_n_model_can_rank(ease_version):
    """Each way of having nothing the ranker reads is served ``hybrid``; one rating of a
    movie it reads is enough for ``personal``."""
    model = ease_version
    read = int(model.movies.ids[model.ranker.items_[0]])
    unread = int(model.movies.ids[np.setdiff1d(np.arange(30), model.ranker.items_)[0]])
    unknown = 5  # a movie added after training
    can_not = {"no rating": LiveRatings([], []),
               "only movies the version does not know": LiveRatings([unknown], [4.5]),
               "only movies the ranker does not read": LiveRatings([unread], [5.0]),
               "only a favourite mark": LiveRatings([read], [0.0])}
    for case, live in can_not.items():
        assert serving_strategy(model, live, "personal") == "hybrid", case
    can = LiveRatings([unknown, unread, read], [4.0, 5.0, 0.5])
    assert serving_strategy(model, can, "personal") == "personal"
    assert serving_strategy(model, dict(can), "personal") == "personal"
    assert serving_strategy(None, can, "personal") == "hybrid"  # no active version
    without_ranker = copy.copy(model)
    without_ranker.ranker = None
    assert serving_strategy(without_ranker, can, "personal") == "hybrid"


class Ranking(FixedScores):
    """A version with a top-N model: says whether it can rank a user (counting the asks) and
    ranks everyone the same."""

    ranker = object()

    def __init__(self, can_rank, ranked=((30, 0.91234, (10, 4.5)), (40, 0.5, (20, 1.0)),
                                         (50, 0.1, None))):
        super().__init__(MOVIES, MODEL._scores, MODEL._svd_scores)
        self._can_rank, self._ranked, self.asked = can_rank, list(ranked), 0

    def can_rank(self, ratings):
        self.asked += 1
        return self._can_rank

    def ranked(self, ratings, n, allowed=None, user_id=None):
        return [entry for entry in self._ranked
                if allowed is None or allowed.mask([entry[0]])[0]][:n]


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s != "personal"])
def test_every_other_strategy_is_served_as_asked_without_asking_the_ranker(strategy):
    model = Ranking(can_rank=True)
    assert serving_strategy(model, {10: 4.0}, strategy) == strategy
    assert serving_strategy(None, {10: 4.0}, strategy) == strategy
    assert model.asked == 0


def test_recommend_decides_once_and_serve_takes_the_decision():
    counters = cluster(size=4, favourites=[(30, 3.0), (50, 1.0)])
    rankable, not_rankable = Ranking(can_rank=True), Ranking(can_rank=False)
    personal = recommend(rankable, {10: 4.5, 20: 1.0}, counters, POPULAR, 3, "personal")
    assert rankable.asked == 1 and personal.fallback is None
    assert serve(rankable, {10: 4.5, 20: 1.0}, None, (), 3, "personal") == personal
    assert rankable.asked == 1  # serve does not ask again
    fallback = recommend(not_rankable, {10: 4.5}, counters, POPULAR, 3, "personal")
    assert not_rankable.asked == 1
    assert fallback == serve(not_rankable, {10: 4.5}, counters, POPULAR, 3, "hybrid")
    assert ids(fallback) == [40, 20, 50]  # hybrid's (predicted + shares), not the ranker's
    assert recommend(not_rankable, {10: 4.5}, None, POPULAR, 3, "personal").fallback == "popular"


def test_a_personal_pick_is_explained_by_the_rated_movie_that_adds_most():
    result = serve(Ranking(can_rank=True), {10: 4.5, 20: 1.0}, None, (), 3, "personal")
    assert result.items == [
        {"movie_id": 30, "score": 0.9123, "reason": "because you rated movie 10 4.5 stars",
         "because": {"movie_id": 10, "rating": 4.5}},
        {"movie_id": 40, "score": 0.5, "reason": "because you rated movie 20 1 star",
         "because": {"movie_id": 20, "rating": 1.0}},
        {"movie_id": 50, "score": 0.1, "reason": "recommended for your ratings"}]
    assert because_you_rated("Heat (1995)", 3.0) == "because you rated Heat (1995) 3 stars"


class AskedBy(Ranking):
    """A ranker that gives the user 7 the movie 60 in the place of 40, as an exploration
    does (``LiveModel.ranked``)."""

    def ranked(self, ratings, n, allowed=None, user_id=None):
        ranked = super().ranked(ratings, n, allowed)
        return [(60, score, EXPLORED) if user_id == 7 and movie == 40 else (movie, score, why)
                for movie, score, why in ranked]


def test_a_movie_given_by_the_exploration_says_so_and_only_the_user_asking_gets_it():
    model = AskedBy(can_rank=True)
    mine = recommend(model, {10: 4.5}, None, (), 3, "personal", user_id=7).items
    assert mine[1] == {"movie_id": 60, "score": 0.5,
                       "reason": "close to your taste, and shown in few lists"}
    others = recommend(model, {10: 4.5}, None, (), 3, "personal", user_id=8).items
    assert [item["movie_id"] for item in others] == [30, 40, 50]
    assert because_you_rated(untitled(7), 1.0) == "because you rated movie 7 1 star"
