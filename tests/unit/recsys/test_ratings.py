"""A user's live ratings as the estimators take them (shared/recsys/ratings.py)."""
import numpy as np
import pytest

from shared.recsys.ratings import LiveRatings


def test_live_ratings_read_as_the_mapping_they_hold():
    live = LiveRatings([10, 3, 7], [4.5, 0.0, 2.0])
    assert live == {10: 4.5, 3: 0.0, 7: 2.0} and len(live) == 3
    assert live[3] == 0.0 and 7 in live and 8 not in live
    assert list(live) == [10, 3, 7]
    with pytest.raises(KeyError):
        live[8]


def test_a_mapping_becomes_live_ratings_and_live_ratings_stay_themselves():
    live = LiveRatings.of({5: 3.0, 6: 0.0})
    np.testing.assert_array_equal(live.movie_ids, [5, 6])
    np.testing.assert_array_equal(live.ratings, [3.0, 0.0])
    assert LiveRatings.of(live) is live
    assert LiveRatings.of({}) == {}


def test_ids_and_ratings_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="one length"):
        LiveRatings([1, 2], [3.0])
