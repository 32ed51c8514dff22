"""Redis clients and script calls (shared/store/client.py)."""
import redis

from shared.store.client import script_calls


def test_script_calls_answer_in_order_without_asking_whether_redis_knows_them(client, monkeypatch):
    double = client.register_script("return {KEYS[1], ARGV[1] * 2}")
    fail = client.register_script("return redis.error_reply('no ' .. ARGV[1])")
    calls = [(double, ["a"], [1]), (fail, ["b"], ["luck"]), (double, ["c"], [3])]

    def refuse(pipeline):
        raise AssertionError("SCRIPT EXISTS sent: a round trip per pipeline")

    monkeypatch.setattr(redis.client.Pipeline, "load_scripts", refuse)
    first, failed, last = script_calls(client, calls)
    assert first == [b"a", 2] and last == [b"c", 6]
    assert isinstance(failed, redis.ResponseError) and "no luck" in str(failed)
    client.script_flush()  # as after a restart: Redis answers NOSCRIPT, the calls go again
    assert script_calls(client, calls[:1]) == [[b"a", 2]]
