import pytest

from shared.data.events import Event
from shared.store.cache import ComputedList, Lookup, RecommendationCache, UserState
from shared.store.keys import Keys
from tests.conftest import stores_on

KEYS = Keys("t")


@pytest.fixture
def stores(client):
    return ratings_and_cache(client)


def ratings_and_cache(client):
    """The ratings store and the recommendation cache on ``client``, under ``KEYS``."""
    on = stores_on(client, "t")
    return on.ratings, on.recommendations


def user_revision(store, user_id):
    """The user's revision as the scripts keep it (b"0" before their first change)."""
    return store.redis.hget(KEYS.user_revisions(KEYS.partition_of(user_id)), user_id) or b"0"


def test_a_miss_reads_revision_ratings_and_cluster_in_one_go(stores):
    store, cache = stores
    store.apply([Event("rating", 1, 10, 9, 100.0), Event("favourite", 1, 11, 0, 100.0),
                 Event("rating", 1, 12, 4, 100.0), Event("remove", 1, 12, 0, 101.0)])
    store.redis.hset(KEYS.assignments("v1", KEYS.partition_of(1)), 1, 3)
    [state] = cache.lookup_many([Lookup(1, "v1", "f")])
    assert state == UserState(user_revision(store, 1), store.live_ratings(1), 3)
    assert state.revision != b"0" and state.ratings == {10: 4.5, 11: 0.0}
    assert cache.lookup_many([Lookup(1, None, "f")])[0].cluster is None
    assert cache.lookup_many([Lookup(2, "v1", "f")]) == [UserState(b"0", {}, None)]


def test_a_kept_list_is_found_until_the_user_changes(stores):
    store, cache = stores
    store.apply([Event("rating", 1, 10, 9, 100.0)])
    revision = cache.lookup_many([Lookup(1, "v1", "f")])[0].revision
    assert cache.keep_many([ComputedList(1, revision, "f", b"list", 60)])[0]
    assert cache.lookup_many([Lookup(1, "v1", "f")]) == [b"list"]
    assert isinstance(cache.lookup_many([Lookup(1, "v1", "other")])[0], UserState)
    store.apply([Event("rating", 1, 11, 8, 101.0)])
    assert isinstance(cache.lookup_many([Lookup(1, "v1", "f")])[0], UserState)
    # computed before the change
    assert not cache.keep_many([ComputedList(1, revision, "f", b"stale", 60)])[0]


def test_several_lookups_come_back_in_their_order(stores):
    store, cache = stores
    store.apply([Event("rating", u, 10, 9, 100.0) for u in (1, 2)])
    kept = cache.keep_many([ComputedList(2, user_revision(store, 2), "f", b"two", 60),
                            ComputedList(1, b"r-old", "f", b"stale", 60)])
    assert kept == [True, False]
    answers = cache.lookup_many([Lookup(2, "v1", "f"), Lookup(1, "v1", "f"), Lookup(2, None, "f")])
    assert answers[0] == b"two" and answers[2] == b"two"
    assert answers[1] == UserState(user_revision(store, 1), {10: 4.5}, None)


def test_a_lookup_makes_the_live_view_a_change_dropped(stores):
    store, cache = stores
    store.apply([Event("rating", u, 10, 9, 100.0) for u in (1, 2)]
                + [Event("favourite", 2, 11, 0, 100.0)])
    assert not store.redis.exists(KEYS.user_live(1), KEYS.user_live(2))
    answers = cache.lookup_many([Lookup(1, None, "f"), Lookup(2, None, "f")])
    assert [answer.ratings for answer in answers] == [{10: 4.5}, {10: 4.5, 11: 0.0}]
    assert store.redis.exists(KEYS.user_live(1), KEYS.user_live(2)) == 2


@pytest.mark.integration
def test_a_redis_too_full_to_keep_a_live_view_still_answers_the_lookup(real_redis):
    store, cache = ratings_and_cache(real_redis)
    store.apply([Event("rating", 1, 10, 9, 100.0)])
    limit = real_redis.config_get("maxmemory")["maxmemory"]
    real_redis.config_set("maxmemory", "1")  # every write refused from here
    try:
        [state] = cache.lookup_many([Lookup(1, None, "f")])
        assert state.ratings == {10: 4.5} and store.live_ratings(1) == {10: 4.5}
        assert not real_redis.exists(KEYS.user_live(1))
    finally:
        real_redis.config_set("maxmemory", limit)


def test_lists_kept_on_the_way_of_a_lookup_are_there_for_it(stores):
    store, cache = stores
    store.apply([Event("rating", u, 10, 9, 100.0) for u in (1, 2)])
    keeping = [ComputedList(1, user_revision(store, 1), "f", b"one", 60),
               ComputedList(2, b"r-old", "f", b"stale", 60)]
    answers = cache.lookup_many([Lookup(1, None, "f"), Lookup(2, None, "f")], keeping=keeping)
    assert answers[0] == b"one" and isinstance(answers[1], UserState)


@pytest.mark.integration
def test_a_list_redis_is_too_full_to_keep_does_not_fail_the_lookup_it_rode_with(real_redis):
    store, cache = ratings_and_cache(real_redis)
    store.apply([Event("rating", 1, 10, 9, 100.0)])
    state = cache.lookup_many([Lookup(1, None, "f")])[0]
    limit = real_redis.config_get("maxmemory")["maxmemory"]
    real_redis.config_set("maxmemory", "1")
    try:
        [again] = cache.lookup_many([Lookup(1, None, "f")],
                                    keeping=[ComputedList(1, state.revision, "f", b"list", 60)])
        assert again == state
    finally:
        real_redis.config_set("maxmemory", limit)
    assert cache.lookup_many([Lookup(1, None, "f")]) == [state]  # not kept


@pytest.fixture
def private_redis(tmp_path):
    """``run(body)``: a private redis-server with its append-only file in ``tmp_path`` (the
    same folder each time, so a second run restarts from the file), ``body(client)`` run
    against it, then a clean shutdown."""
    import redis

    from movierec.redis_server import find_redis_server, start_private
    from tests.conftest import free_port

    if find_redis_server() is None:
        pytest.skip("needs redis-server (make test installs it)")
    port = free_port()

    def run(body):
        server = start_private(tmp_path, port=port, allow_apt=False)
        try:
            client = redis.Redis.from_url(server.url)
            body(client)
            client.close()
        finally:
            server.stop()

    return run


def append_only_files(tmp_path) -> bytes:
    """What the private server's append-only files hold (the base of a rewrite in RDB form)."""
    return b"".join(path.read_bytes() for path in (tmp_path / "redis").rglob("appendonly.aof.*"))


@pytest.mark.integration
def test_lists_and_live_views_stay_out_of_the_append_only_file(private_redis, tmp_path):
    """Derived data: a restart costs their recomputation, and the file does not grow by every
    list computed. The ratings they come from are in it, and come back."""
    def compute_and_keep(client):
        store, cache = ratings_and_cache(client)
        store.apply([Event("rating", 1, 987654321, 9, 100.0)])
        state = cache.lookup_many([Lookup(1, None, "f")])[0]  # makes the live view
        assert cache.keep_many([ComputedList(1, state.revision, "f", b"LIST-BODY-MARK", 60)])[0]
        assert client.exists(KEYS.user_live(1), KEYS.recommendations_cache(1)) == 2

    def after_restart(client):
        assert client.exists(KEYS.user_live(1), KEYS.recommendations_cache(1)) == 0
        [state] = RecommendationCache(client, KEYS).lookup_many([Lookup(1, None, "f")])
        assert state.revision != b"0" and state.ratings == {987654321: 4.5}

    private_redis(compute_and_keep)
    written = append_only_files(tmp_path)
    assert b"987654321" in written  # the rating (and the test reads the right files)
    assert b"LIST-BODY-MARK" not in written and KEYS.user_live(1).encode() not in written
    private_redis(after_restart)


@pytest.mark.integration
def test_a_list_a_rewrite_of_the_file_kept_is_not_served_after_a_change_and_a_restart(
        private_redis, tmp_path):
    """A rewrite of the append-only file snapshots the lists of the moment; the change after
    it drops the list in a write that is appended, so a restart does not bring it back."""
    import time

    def keep_rewrite_change(client):
        store, cache = ratings_and_cache(client)
        store.apply([Event("rating", 1, 10, 9, 100.0)])
        state = cache.lookup_many([Lookup(1, None, "f")])[0]
        assert cache.keep_many([ComputedList(1, state.revision, "f", b"stale list", 60)])[0]
        client.bgrewriteaof()
        deadline = time.monotonic() + 10
        while client.info("persistence")["aof_rewrite_in_progress"] or \
                client.info("persistence")["aof_rewrite_scheduled"]:
            assert time.monotonic() < deadline, "the rewrite did not end"
            time.sleep(0.05)
        assert b"stale list" in append_only_files(tmp_path)  # the snapshot holds it
        store.apply([Event("rating", 1, 11, 8, 101.0)])

    def after_restart(client):
        [state] = RecommendationCache(client, KEYS).lookup_many([Lookup(1, None, "f")])
        assert isinstance(state, UserState) and state.ratings == {10: 4.5, 11: 4.0}

    private_redis(keep_rewrite_change)
    private_redis(after_restart)
