from shared.store.cache import cached_responses


def test_cached_reads_of_several_requests_come_back_in_their_order(fake_redis):
    fake_redis.hset("a", "x", "1")
    fake_redis.hset("b", "y", "2")
    assert cached_responses(fake_redis, [("b", "y"), ("a", "missing"), ("a", "x")]) == [b"2", None, b"1"]
    assert cached_responses(fake_redis, [("a", "x")]) == [b"1"]
