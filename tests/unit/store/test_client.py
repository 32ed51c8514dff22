"""Redis clients and script calls (shared/store/client.py)."""
import pytest
import redis

from shared.store.client import script_per_call


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.integration)])
def client(request):
    return request.getfixturevalue("fake_redis" if request.param == "fakeredis" else "real_redis")


def test_a_script_per_call_answers_in_order_without_asking_whether_redis_knows_it(client, monkeypatch):
    script = client.register_script("return {KEYS[1], ARGV[1] * 2}")
    calls = [(["a"], [1]), (["b"], [2]), (["c"], [3])]

    def refuse(pipeline):
        raise AssertionError("SCRIPT EXISTS sent: a round trip per pipeline")

    monkeypatch.setattr(redis.client.Pipeline, "load_scripts", refuse)
    assert script_per_call(client, script, calls) == [[b"a", 2], [b"b", 4], [b"c", 6]]
    client.script_flush()  # as after a restart: Redis answers NOSCRIPT, the calls go again
    assert script_per_call(client, script, calls[:1]) == [[b"a", 2]]
