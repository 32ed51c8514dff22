import pytest

from shared.data.events import (
    MAX_EVENTS_PER_REQUEST,
    Event,
    EventError,
    validate_event,
    validate_events,
)


def test_rating_event_is_parsed_to_half_stars():
    event = validate_event({"type": "rating", "user_id": 3, "movie_id": 7, "rating": 4.5, "ts": 10})
    assert event == Event("rating", 3, 7, 9, 10.0, "")
    assert event.rating == 4.5


def test_missing_ts_takes_the_time_of_receipt():
    event = validate_event({"type": "favourite", "user_id": 1, "movie_id": 2}, now=1234.5678)
    assert event.ts == 1234.568 and event.half_stars == 0


def test_the_wire_form_carries_ids_as_strings():
    event = Event("rating", 9007199254740991, 5, 10, 1.5, "abc")
    assert event.wire() == ["rating", "9007199254740991", "5", 10, 1.5, "abc"]


@pytest.mark.parametrize("obj, field, reason_part", [
    ({"user_id": 1, "movie_id": 2}, "type", "required"),
    ({"type": "like", "user_id": 1, "movie_id": 2}, "type", "must be one of"),
    ({"type": "rating", "user_id": 0, "movie_id": 2, "rating": 3}, "user_id", "positive"),
    ({"type": "rating", "user_id": "1", "movie_id": 2, "rating": 3}, "user_id", "got str"),
    ({"type": "rating", "user_id": True, "movie_id": 2, "rating": 3}, "user_id",
     "positive integer"),
    ({"type": "rating", "user_id": 1, "movie_id": 2.5, "rating": 3}, "movie_id", "got float"),
    ({"type": "rating", "user_id": 1, "movie_id": 2}, "rating", "required"),
    ({"type": "rating", "user_id": 1, "movie_id": 2, "rating": 5.5}, "rating", "between 0.5 and 5"),
    ({"type": "rating", "user_id": 1, "movie_id": 2, "rating": 0}, "rating", "between 0.5 and 5"),
    ({"type": "rating", "user_id": 1, "movie_id": 2, "rating": 3.3}, "rating", "half-star"),
    ({"type": "rating", "user_id": 1, "movie_id": 2, "rating": "4"}, "rating", "number"),
    ({"type": "favourite", "user_id": 1, "movie_id": 2, "rating": 4}, "rating", "only allowed"),
    ({"type": "favourite", "user_id": 1, "movie_id": 2, "ts": -1}, "ts", "non-negative"),
    ({"type": "favourite", "user_id": 1, "movie_id": 2, "event_id": ""}, "event_id", "string"),
    ({"type": "favourite", "user_id": 1, "movie_id": 2, "colour": "red"}, "colour", "not a field"),
])
def test_bad_events_name_the_field_and_reason(obj, field, reason_part):
    with pytest.raises(EventError) as info:
        validate_event(obj)
    assert info.value.field == field
    assert reason_part in info.value.reason


def test_one_bad_event_rejects_the_request_with_its_index():
    good = {"type": "favourite", "user_id": 1, "movie_id": 2}
    with pytest.raises(EventError) as info:
        validate_events([good, good, {"type": "rating", "user_id": 1, "movie_id": 2, "rating": 9}])
    assert info.value.as_dict() == {"index": 2, "field": "rating",
                                     "reason": "must be between 0.5 and 5, got 9"}


def test_request_size_and_shape_limits():
    good = {"type": "favourite", "user_id": 1, "movie_id": 2}
    assert len(validate_events([good] * MAX_EVENTS_PER_REQUEST)) == MAX_EVENTS_PER_REQUEST
    for body in ([good] * (MAX_EVENTS_PER_REQUEST + 1), [], "text", 5):
        with pytest.raises(EventError) as info:
            validate_events(body)
        assert info.value.field == "body"


def test_a_ts_ahead_of_the_clock_by_more_than_the_skew_is_refused():
    base = {"type": "favourite", "user_id": 1, "movie_id": 2}
    assert validate_event({**base, "ts": 1300.0}, now=1000.0).ts == 1300.0  # within 300 s
    with pytest.raises(EventError) as err:
        validate_event({**base, "ts": 32503680000.0}, now=1000.0)  # the year 3000
    assert err.value.field == "ts" and "in the future" in err.value.reason
    with pytest.raises(EventError):
        validate_event({**base, "ts": 1061.0}, now=1000.0, max_skew=60)
