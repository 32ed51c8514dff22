"""Filters over the catalogue's facets, and every strategy's filtered lists: only allowed
movies, filtered before the cut, filled to ``n`` whenever ``n`` allowed movies exist."""
import numpy as np
import pytest

from shared.data import movielens
from shared.recsys.filters import Allowed, Facets, ListFilter
from shared.recsys.ratings import LiveRatings
from shared.recsys.served import LiveModel
from shared.recsys.strategies import STRATEGIES, ClusterCounters, recommend

CATALOGUE = {
    1: {"title": "Alien", "year": 1979, "genres": ["Horror", "Sci-Fi"]},
    2: {"title": "Airplane!", "year": 1980, "genres": ["Comedy"]},
    3: {"title": "Heat", "year": 1995, "genres": ["Crime", "Thriller"]},
    4: {"title": "Clueless", "year": 1995, "genres": ["Comedy", "Romance"]},
    5: {"title": "An undated comedy", "year": None, "genres": ["Comedy"]},
    6: {"title": "No genres", "year": 2001, "genres": []},
}
FACETS = Facets(CATALOGUE)
IDS = np.array([1, 2, 3, 4, 5, 6, 7])  # 7 is not in the catalogue


def allowed_ids(list_filter):
    return IDS[FACETS.allowed(IDS, list_filter)].tolist()


def test_genres_allow_any_of_them_and_years_need_a_known_year():
    assert allowed_ids(ListFilter(genres=frozenset({"comedy"}))) == [2, 4, 5]
    assert allowed_ids(ListFilter(genres=frozenset({"comedy", "horror"}))) == [1, 2, 4, 5]
    assert allowed_ids(ListFilter(year_min=1980)) == [2, 3, 4, 6]
    assert allowed_ids(ListFilter(year_max=1980)) == [1, 2]
    assert allowed_ids(ListFilter(genres=frozenset({"comedy"}), year_min=1981)) == [4]
    assert allowed_ids(ListFilter(genres=frozenset({"western"}))) == []


def test_exclude_alone_keeps_movies_outside_the_catalogue():
    assert allowed_ids(ListFilter(exclude=frozenset({2, 6}))) == [1, 3, 4, 5, 7]
    assert allowed_ids(ListFilter()) == IDS.tolist()
    assert not ListFilter() and ListFilter(exclude=frozenset({1}))


def test_matching_lists_the_catalogue_newest_first_and_share_is_its_part():
    comedy = ListFilter(genres=frozenset({"comedy"}))
    assert FACETS.matching(comedy).tolist() == [4, 2, 5]  # 1995, 1980, then no year
    assert FACETS.share(comedy) == pytest.approx(3 / 6)
    assert FACETS.share(ListFilter(exclude=frozenset({1}))) == 1.0


def test_cache_keys_tell_filters_apart_and_ignore_order():
    keys = {ListFilter().cache_key(), ListFilter(genres=frozenset({"comedy"})).cache_key(),
            ListFilter(genres=frozenset({"comedy", "drama"})).cache_key(),
            ListFilter(year_min=1990).cache_key(), ListFilter(year_max=1990).cache_key(),
            ListFilter(exclude=frozenset({1})).cache_key(),
            ListFilter(exclude=frozenset({2})).cache_key()}
    assert len(keys) == 7 and ListFilter().cache_key() == ""
    assert (ListFilter(exclude=frozenset(range(500))).cache_key()
            == ListFilter(exclude=frozenset(reversed(range(500)))).cache_key())
    assert len(ListFilter(exclude=frozenset(range(500))).cache_key()) < 40


def test_unknown_genres_are_named():
    assert FACETS.unknown_genres(["comedy", "western"]) == ["western"]
    assert FACETS.genre_names["sci-fi"] == "Sci-Fi"


@pytest.fixture(scope="module")
def served(tiny_data, tiny_bundle):
    """The tiny version as the API serves it, its catalogue's facets and a user's ratings."""
    data = movielens.load(tiny_data)
    movies = {int(row.movie_id): {"title": row.title, "year": int(row.year),
                                  "genres": row.genres.split("|")}
              for row in data.movies.itertuples()}
    model = LiveModel(tiny_bundle)
    user = data.ratings[data.ratings["user_id"] == data.ratings["user_id"].iloc[0]]
    ratings = LiveRatings(user["movie_id"].to_numpy(), user["rating"].to_numpy())
    return model, Facets(movies), movies, ratings


def counters_for(model, movies):
    """A cluster whose counters name every movie, best first by id, as a live one could."""
    ids = sorted(movies)
    return ClusterCounters(cluster=0, size=10,
                           favourites=tuple((m, float(len(ids) - i)) for i, m in enumerate(ids)),
                           means=tuple((m, 5.0 - i / len(ids), 3) for i, m in enumerate(ids)))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_names_only_allowed_unrated_movies_and_fills_to_n(served, strategy):
    model, facets, movies, ratings = served
    genre = sorted(facets.genre_names)[0]
    list_filter = ListFilter(genres=frozenset({genre}), exclude=frozenset(list(movies)[:3]))
    allowed = Allowed(list_filter, facets)
    exist = [m for m in facets.matching(list_filter).tolist() if m not in ratings]
    assert len(exist) > 12
    counters = counters_for(model, movies)
    popular = counters.favourites
    for n in (5, 12, len(exist), len(exist) + 5):
        result = recommend(model, ratings, counters, popular, n, strategy, allowed)
        named = [item["movie_id"] for item in result.items]
        assert len(named) == len(set(named)) == min(n, len(exist))
        assert set(named) <= set(exist)


def test_a_filtered_personal_row_ranks_what_the_unfiltered_list_leaves_out(served):
    """The genre least present in the unfiltered top 10 still gets a full row, in the
    ranker's order where the ranker scores it."""
    model, facets, movies, ratings = served
    top = [i["movie_id"] for i in recommend(model, ratings, None, (), 10, "personal").items]
    def unrated(genre):
        return [m for m in facets.matching(ListFilter(genres=frozenset({genre}))).tolist()
                if m not in ratings]

    genres = sorted((g for g in facets.genre_names if len(unrated(g)) >= 10),
                    key=lambda g: sum(g in {x.lower() for x in movies[m]["genres"]} for m in top))
    allowed = Allowed(ListFilter(genres=frozenset({genres[0]})), facets)
    row = recommend(model, ratings, None, (), 10, "personal", allowed).items
    assert len(row) == 10 and all(allowed.mask([i["movie_id"]])[0] for i in row)
    ranked = [i for i in row if "because" in i or i["reason"] == "recommended for your ratings"]
    deeper = recommend(model, ratings, None, (), 200, "personal").items
    order = [i["movie_id"] for i in deeper if allowed.mask([i["movie_id"]])[0]]
    assert ranked and [i["movie_id"] for i in ranked] == order[:len(ranked)]


def test_similar_movies_are_filtered_before_the_cut(served):
    model, facets, movies, _ = served
    movie = int(model.movies.ids[0])
    everything = model.similar_movies(movie, len(model.movies), "hybrid")
    genre = sorted(facets.genre_names)[1]
    allowed = Allowed(ListFilter(genres=frozenset({genre})), facets)
    expected = [m for m, _ in everything if allowed.mask([m])[0]][:10]
    assert len(expected) == 10
    assert [m for m, _ in model.similar_movies(movie, 10, "hybrid", allowed)] == expected
