"""The ratings store's semantics, on fakeredis and on a real Redis (same assertions)."""
import pandas as pd
import pytest

from shared.events import Event
from shared.keys import Keys
from shared.store import RatingStore, frame_to_wire

KEYS = Keys("t")


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.integration)])
def store(request):
    client = request.getfixturevalue("fake_redis" if request.param == "fakeredis" else "real_redis")
    return RatingStore(client, KEYS)


def counters(store):
    r = store.redis
    return (
        {k: int(v) for k, v in r.hgetall(KEYS.movie_counts).items()},
        {k: int(v) for k, v in r.hgetall(KEYS.movie_sums).items()},
        {k: int(s) for k, s in r.zrange(KEYS.popular, 0, -1, withscores=True)},
        {k: int(v) for k, v in r.hgetall(KEYS.user_counts).items()},
    )


def rating(user, movie, stars, ts, event_id=""):
    return Event("rating", user, movie, int(stars * 2), float(ts), event_id)


def test_rating_updates_state_and_counters(store):
    result = store.apply([rating(1, 10, 4.5, 100), rating(2, 10, 3, 100), rating(1, 11, 2, 100)])
    assert (result.applied, result.skipped) == (3, 0)
    assert sorted(result.changed_users) == [1, 2]
    assert store.user_ratings(1) == {10: (4.5, True, 100.0), 11: (2.0, False, 100.0)}
    n, sums, fav, per_user = counters(store)
    assert n == {b"10": 2, b"11": 1}
    assert sums == {b"10": 15, b"11": 4}
    assert fav == {b"10": 1}
    assert per_user == {b"1": 2, b"2": 1}


def test_changed_rating_moves_counters_by_the_difference(store):
    store.apply([rating(1, 10, 4.5, 100)])
    store.apply([rating(1, 10, 2.0, 200)])
    n, sums, fav, _ = counters(store)
    assert n == {b"10": 1} and sums == {b"10": 4} and fav == {b"10": 0}


def test_duplicate_and_older_events_change_nothing(store):
    store.apply([rating(1, 10, 4.0, 200, "e1")])
    before = counters(store), store.user_ratings(1)
    again = store.apply([rating(1, 10, 4.0, 200, "e1"),   # same id
                         rating(1, 10, 1.0, 150),         # older
                         rating(1, 10, 4.0, 200)])        # same state, no id
    assert again.applied == 0 and again.skipped == 3
    assert (counters(store), store.user_ratings(1)) == before


def test_event_id_seen_before_is_not_applied_even_with_new_content(store):
    store.apply([rating(1, 10, 4.0, 200, "same-id")])
    store.apply([rating(1, 10, 1.0, 300, "same-id")])
    assert store.user_ratings(1)[10][0] == 4.0


def test_favourite_and_unfavourite_keep_the_rating(store):
    store.apply([rating(1, 10, 3.0, 100), Event("favourite", 1, 10, 0, 110.0)])
    assert store.user_ratings(1)[10] == (3.0, True, 110.0)
    store.apply([Event("unfavourite", 1, 10, 0, 120.0)])
    assert store.user_ratings(1)[10] == (3.0, False, 120.0)
    n, sums, fav, _ = counters(store)
    assert n == {b"10": 1} and sums == {b"10": 6} and fav == {b"10": 0}


def test_remove_leaves_a_tombstone_that_older_events_cannot_undo(store):
    store.apply([rating(1, 10, 5.0, 100)])
    store.apply([Event("remove", 1, 10, 0, 200.0)])
    store.apply([rating(1, 10, 5.0, 150)])  # delivered late
    assert store.user_ratings(1) == {}
    n, sums, fav, per_user = counters(store)
    assert n == {b"10": 0} and sums == {b"10": 0} and fav == {b"10": 0} and per_user == {b"1": 0}


def test_event_log_is_capped_and_newest_first(store):
    store.apply([rating(1, m, 3.0, m) for m in range(1, 31)])
    log = store.redis.lrange(KEYS.user_log(1), 0, -1)
    assert len(log) == 20 and b'"30"' in log[0]


def test_ratings_frame_round_trips_an_import(store):
    frame = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [5, 6, 5],
                          "rating": [4.0, 0.5, 3.5], "ts": [10, 11, 12]})
    assert store.apply_wire(frame_to_wire(frame), log=False).applied == 3
    assert store.apply_wire(frame_to_wire(frame), log=False).applied == 0  # re-import: no change
    back = store.ratings_frame().sort_values(["user_id", "movie_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_put_movies_stores_json_catalogue(store):
    movies = pd.DataFrame({"movie_id": [1], "title": ["Toy Story"], "year": [1995],
                           "genres": ["Animation|Children"], "tags": ["pixar"]})
    store.put_movies(movies)
    assert store.movie(1) == {"title": "Toy Story", "year": 1995,
                              "genres": ["Animation", "Children"], "tags": ["pixar"]}
    assert store.movie(2) is None and store.n_movies() == 1
