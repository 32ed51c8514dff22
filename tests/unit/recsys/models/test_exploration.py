import numpy as np
import pytest

from shared.recsys.evaluation.accuracy import NO_ITEM, top_k_lists
from shared.recsys.models.ease import EASE
from shared.recsys.models.exploration import TOP_N, Exploration
from shared.recsys.persist import decode, encode

from .synthetic import low_rank_ratings


@pytest.fixture(scope="module")
def world():
    """Ratings, and each user's top 10 by a ranker that recommends 30 of the 200 movies only,
    so that the lists together show few of them."""
    X, _ = low_rank_ratings(n_users=300, n_items=200, density=0.2, seed=3)
    ranker = EASE(l2=50.0, max_candidates=30).fit(X)
    lists = top_k_lists(ranker.score_users, X, np.arange(X.shape[0]), TOP_N)
    return X, lists


def explored(lists, exploration):
    """The lists with each given movie in the place of the one it replaces."""
    out = lists.copy()
    for user in range(len(out)):
        for movie, replaced in zip(*exploration.for_user(user)):
            out[user, np.flatnonzero(out[user] == replaced)[0]] = movie
    return out


def shown(lists, X):
    return len(np.unique(lists[lists != NO_ITEM])) / len(np.unique(X.indices))


def test_the_lists_reach_the_coverage_asked_and_report_it(world):
    X, lists = world
    exploration = Exploration(coverage=0.6, max_items=200, window=60).fit(X, lists=lists)
    after = explored(lists, exploration)
    assert exploration.coverage_before_ == pytest.approx(shown(lists, X))
    assert shown(lists, X) < 0.2
    assert exploration.coverage_after_ == pytest.approx(shown(after, X))
    assert 0.6 <= shown(after, X) < 0.6 + 1.5 / len(np.unique(X.indices))


def test_a_movie_given_was_in_no_list_and_nothing_leaves_the_screens(world):
    X, lists = world
    exploration = Exploration(coverage=0.6, max_items=200, window=60, max_per_user=3).fit(
        X, lists=lists)
    after = explored(lists, exploration)
    before = set(lists[lists != NO_ITEM].tolist())
    given = exploration.movies_.tolist()
    assert len(given) == len(set(given)) > 0
    assert not before & set(given)
    assert before <= set(after[after != NO_ITEM].tolist())  # each replaced movie still shown
    for user in range(len(lists)):
        movies, replaced = exploration.for_user(user)
        assert len(movies) <= 3
        places = [np.flatnonzero(lists[user] == movie)[0] for movie in replaced]
        assert all(place >= TOP_N - 3 for place in places)
        assert not set(movies.tolist()) & set(X[user].indices.tolist())  # never a rated movie


def test_the_cheapest_movies_are_given_first(world):
    X, lists = world
    fewer = Exploration(coverage=0.3, max_items=200, window=60).fit(X, lists=lists)
    more = Exploration(coverage=0.6, max_items=200, window=60).fit(X, lists=lists)
    assert fewer.costs_.max() <= more.costs_.max()
    pairs = set(zip(more.movies_.tolist(), more.replaces_.tolist()))
    assert set(zip(fewer.movies_.tolist(), fewer.replaces_.tolist())) <= pairs


def test_no_coverage_asked_or_already_reached_gives_nothing(world):
    X, lists = world
    for coverage in (0.0, 0.1):
        exploration = Exploration(coverage=coverage, max_items=200).fit(X, lists=lists)
        assert len(exploration.movies_) == 0
        assert exploration.coverage_after_ == exploration.coverage_before_


def test_it_survives_the_model_codec(world):
    X, lists = world
    exploration = Exploration(coverage=0.5, max_items=200, window=60).fit(X, lists=lists)
    spec, arrays = encode(exploration)
    again = decode(spec, arrays)
    for user in range(X.shape[0]):
        for a, b in zip(exploration.for_user(user), again.for_user(user)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("params, message", [
    ({"coverage": 1.0}, "coverage"), ({"max_per_user": 0}, "max_per_user"),
    ({"window": TOP_N}, "window")])
def test_bad_parameters_are_named(world, params, message):
    X, lists = world
    with pytest.raises(ValueError, match=message):
        Exploration(**params).fit(X, lists=lists)
    with pytest.raises(ValueError, match="lists"):
        Exploration().fit(X, lists=lists[:, :5])


def test_a_user_without_a_list_is_given_nothing(world):
    X, lists = world
    unlisted = lists.copy()
    unlisted[::2] = NO_ITEM
    exploration = Exploration(coverage=0.4, max_items=200, window=60).fit(X, lists=unlisted)
    assert len(exploration.movies_) > 0
    assert all(len(exploration.for_user(user)[0]) == 0 for user in range(0, X.shape[0], 2))


def test_the_pipeline_lists_no_user_the_ranker_cannot_rank():
    from shared.recsys.pipeline import fit_exploration

    X, _ = low_rank_ratings(n_users=300, n_items=200, density=0.2, seed=3)
    X = X.tolil()
    X[:40] = 0  # users with no rating (only favourites, say)
    X = X.tocsr()
    X.eliminate_zeros()
    F = X.tolil()
    F[:40, :5] = 1.0
    F = F.tocsr()
    ranker = EASE(l2=50.0, max_candidates=30).fit(X)
    exploration = fit_exploration(ranker, X, F, 0.95)
    assert len(exploration.movies_) > 0
    assert all(len(exploration.for_user(user)[0]) == 0 for user in range(40))


def test_no_rating_gives_nothing():
    import scipy.sparse as sp

    exploration = Exploration(coverage=0.5).fit(sp.csr_matrix((3, 20)),
                                                lists=np.full((3, TOP_N), NO_ITEM))
    assert len(exploration.movies_) == 0 and exploration.coverage_after_ == 0.0
    assert len(exploration.for_user(2)[0]) == 0
