"""`movierec import` into a real Redis: the counters it builds, and re-importing changes nothing."""
import pytest
import redis
from click.testing import CliRunner

from movierec.cli import main
from shared.data import movielens
from shared.store.keys import Keys

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
    counts = {int(k): int(v) for k, v in client.hgetall(keys.movie_counts).items()}
    sums = {int(k): int(v) for k, v in client.hgetall(keys.movie_sums).items()}
    assert counts == per_movie.count().to_dict()
    assert sums == (per_movie.sum() * 2).round().astype(int).to_dict()
    favourites = data.ratings[data.ratings["rating"] >= 4].groupby("movie_id").size()
    popular = client.zrange(keys.popular, 0, -1, withscores=True)
    assert {int(m): int(s) for m, s in popular if s} == favourites.to_dict()
    assert client.hlen(keys.movies) == len(data.movies)
    users = set().union(*(client.smembers(keys.users(p)) for p in range(keys.partitions)))
    assert len(users) == data.ratings["user_id"].nunique()
    for p in range(keys.partitions):  # each user is listed in their own partition
        assert all(keys.partition_of(int(u)) == p for u in client.smembers(keys.users(p)))
