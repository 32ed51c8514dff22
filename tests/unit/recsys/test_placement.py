import pytest

from shared.recsys.placement import Placement


def test_a_user_is_placed_at_the_threshold_then_each_time_their_ratings_double():
    placement = Placement(min_ratings=5, growth=2)
    assert [placement.placed_from(n) for n in (0, 4, 5, 9, 10, 19, 20, 39, 40, 1000)] == \
        [0, 0, 5, 5, 10, 10, 20, 20, 40, 640]
    due = [n for n in range(1, 100) if placement.due(n - 1, n)]
    assert due == [5, 10, 20, 40, 80]
    assert placement.due(3, 12)          # a batch may carry a user past a step
    assert not placement.due(12, 15)
    assert placement.due(12, 9)          # fewer ratings than at the last placement: again
    assert not placement.due(5, 4)       # below the threshold: no cluster to give


def test_growth_one_places_on_every_change_and_steps_never_stall():
    every = Placement(min_ratings=5, growth=1)
    assert [n for n in range(1, 9) if every.due(n - 1, n)] == [5, 6, 7, 8]
    assert every.placed_from(7) == 7
    slow = Placement(min_ratings=1, growth=1.1)  # 1 * 1.1 rounds up to 2: one more at least
    assert [slow.placed_from(n) for n in (1, 2, 3, 4)] == [1, 2, 3, 4]
    steps = Placement(5, 1.5)  # each step rounded up: 5, 8, 12, 18, 27, 41, 62, 93
    assert [n for n in range(1, 100) if steps.due(n - 1, n)] == [5, 8, 12, 18, 27, 41, 62, 93]


@pytest.mark.parametrize("growth", [2.0, 1.5, 1.25])
def test_placements_read_a_bounded_number_of_ratings_per_rating(growth):
    placement = Placement(min_ratings=5, growth=growth)
    for n in (10, 100, 1000, 5000):
        read = sum(k for k in range(1, n + 1) if placement.due(k - 1, k))
        assert read <= growth / (growth - 1) * n


def test_nonsense_is_refused():
    with pytest.raises(ValueError, match="min_ratings"):
        Placement(min_ratings=0)
    with pytest.raises(ValueError, match="growth"):
        Placement(growth=0.5)
