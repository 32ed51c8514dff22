"""The catalogue in Redis, on fakeredis and on a real Redis (same assertions), and the
process's copy of it (fakeredis)."""
import pandas as pd
import pytest

from shared.store.catalogue import Catalogue, CatalogueCache
from shared.store.keys import Keys

KEYS = Keys("t")


@pytest.fixture
def store(client):
    return Catalogue(client, KEYS)


def test_put_movies_stores_json_catalogue(store):
    movies = pd.DataFrame({"movie_id": [1], "title": ["Toy Story"], "year": [1995],
                           "genres": ["Animation|Children"], "tags": ["pixar"]})
    store.put_movies(movies)
    assert store.movie(1) == {"title": "Toy Story", "year": 1995,
                              "genres": ["Animation", "Children"], "tags": ["pixar"]}
    assert store.movie(2) is None and store.n_movies() == 1


def make_store(fake_redis) -> Catalogue:
    store = Catalogue(fake_redis, KEYS)
    store.put_movies(pd.DataFrame({"movie_id": [1, 2, 3], "title": ["Alien", "Aliens", "Heat"],
                                   "year": [1979, 1986, 1995],
                                   "genres": ["Horror", "Action", "Crime"], "tags": ["", "", ""]}))
    return store


def test_entries_are_the_stores_and_follow_an_edit_after_the_check_interval(fake_redis):
    store = make_store(fake_redis)
    cache = CatalogueCache(store, check_every=3600)
    assert cache.movies_many([1, 3, 9]) == store.movies_many([1, 3, 9])
    store.put_movie(3, {"title": "Heat (1995)", "year": 1995, "genres": [], "tags": []})
    assert cache.movies_many([3])[3]["title"] == "Heat"  # within the interval: the old entry
    cache.check_every = 0
    assert cache.movies_many([3])[3]["title"] == "Heat (1995)"


def test_search_sees_a_new_movie_at_once(fake_redis):
    store = make_store(fake_redis)
    cache = CatalogueCache(store, check_every=3600)
    assert cache.search("alien", 10) == [1, 2]
    store.put_movie(4, {"title": "Alien: Covenant", "year": 2017, "genres": [], "tags": []})
    assert cache.search("ALIEN", 10) == [1, 2, 4] and cache.search("alien", 2) == [1, 2]
    assert cache.movies_many([4])[4]["year"] == 2017
