"""`movierec import` into a real Redis: the counters it builds, and re-importing changes nothing."""
import pytest
import redis
from click.testing import CliRunner

from movierec.cli import main
from shared.data import movielens
from shared.store.catalogue import Catalogue
from shared.store.keys import Keys
from tests.conftest import over_partitions

pytestmark = pytest.mark.integration


def state(client):
    """Every key's value, except the import's own timestamp."""
    out = {}
    for key in client.keys("*"):
        kind = client.type(key)
        if kind == b"hash":
            value = client.hgetall(key)
            value.pop(b"imported_at", None)
        elif kind == b"zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"set":
            value = client.smembers(key)
        else:
            value = client.dump(key)
        out[key] = value
    return out


def test_import_twice_changes_nothing(tiny_data, redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    runner = CliRunner()
    first = runner.invoke(main, ["import", str(tiny_data)])
    assert first.exit_code == 0, first.output
    assert "6,000 ratings read, 6,000 changed" in first.output
    client = redis.Redis.from_url(redis_url)
    before = state(client)
    second = runner.invoke(main, ["import", str(tiny_data)])
    assert second.exit_code == 0 and "6,000 ratings read, 0 changed" in second.output
    assert state(client) == before


def test_import_builds_the_counters_from_the_ratings(tiny_data, redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert CliRunner().invoke(main, ["import", str(tiny_data)]).exit_code == 0
    client, keys = redis.Redis.from_url(redis_url), Keys()
    data = movielens.load(tiny_data)
    per_movie = data.ratings.groupby("movie_id")["rating"]
    counts = {int(k): int(v) for k, v in
              over_partitions(client, keys.movie_counts, keys.partitions).items()}
    sums = {int(k): int(v) for k, v in
            over_partitions(client, keys.movie_sums, keys.partitions).items()}
    assert counts == per_movie.count().to_dict()
    assert sums == (per_movie.sum() * 2).round().astype(int).to_dict()
    favourites = data.ratings[data.ratings["rating"] >= 4].groupby("movie_id").size()
    popular = over_partitions(client, keys.popular, keys.partitions)
    assert {int(m): int(s) for m, s in popular.items() if s} == favourites.to_dict()
    assert Catalogue(client, keys).n_movies() == len(data.movies)
    for p in range(keys.partitions):  # each movie and its counters in the movie's partition
        for key in (keys.movies(p), keys.movie_counts(p), keys.movie_sums(p)):
            assert all(keys.partition_of(int(m)) == p for m in client.hkeys(key))
        assert all(keys.partition_of(int(m)) == p for m in client.zrange(keys.popular(p), 0, -1))
    users = set().union(*(client.smembers(keys.users(p)) for p in range(keys.partitions)))
    assert len(users) == data.ratings["user_id"].nunique()
    for p in range(keys.partitions):  # each user is listed in their own partition
        assert all(keys.partition_of(int(u)) == p for u in client.smembers(keys.users(p)))
