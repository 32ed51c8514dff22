"""When retrains come due, and that schedulers sharing the claims start one per slot."""
import pytest

from shared import config
from trainer.scheduler import Schedule, Scheduler


class Shared:
    """The claims of every scheduler (Redis in production) and the retrains enqueued."""

    def __init__(self):
        self.claimed, self.enqueued, self.events = set(), [], (0, 0)

    def claim(self, slot, ttl):
        if slot in self.claimed:
            return False
        self.claimed.add(slot)
        return True

    def enqueue(self, slot):
        self.enqueued.append(slot)
        return f"job-{len(self.enqueued)}"

    def scheduler(self, schedule, now):
        return Scheduler(schedule, self.claim, self.enqueue, lambda: self.events, now)


def test_an_interval_fires_at_each_boundary_once_and_never_at_start_up():
    shared = Shared()
    first = shared.scheduler(Schedule(every=60), now=1000.5)
    assert first.tick(1001) == [] and first.tick(1019.9) == []
    assert first.tick(1020.1) == [("every:60:17", "job-1")]  # 1020 = 17 x 60
    assert first.tick(1030) == []
    assert first.tick(1200) == [("every:60:20", "job-2")]  # missed slots are not replayed


def test_two_schedulers_start_one_retrain_per_slot():
    shared = Shared()
    a, b = shared.scheduler(Schedule(every=10), 5), shared.scheduler(Schedule(every=10), 7)
    for now in (9, 11, 12, 21, 22, 31, 33):
        a.tick(now)
        b.tick(now + 0.3)
    assert shared.enqueued == ["every:10:1", "every:10:2", "every:10:3"]


def test_a_cron_expression_fires_at_its_times():
    shared = Shared()
    every_five = shared.scheduler(Schedule(cron="*/5 * * * *"), now=0)  # 1970-01-01 00:00 UTC
    assert every_five.tick(299) == []
    assert every_five.tick(300) == [("cron:300", "job-1")] and every_five.tick(301) == []
    assert every_five.tick(600) == [("cron:600", "job-2")]


def test_new_events_fire_once_per_snapshot_they_count_from():
    shared = Shared()
    after = shared.scheduler(Schedule(after_events=100), now=0)
    shared.events = (500, 599)
    assert after.tick(1) == []
    shared.events = (500, 600)
    assert after.tick(2) == [("events:500", "job-1")]
    shared.events = (500, 700)  # the retrain has not run yet: no second one
    assert after.tick(3) == []
    shared.events = (650, 760)  # it ran on a snapshot that had seen 650 events
    assert after.tick(4) == [("events:650", "job-2")]


@pytest.mark.parametrize("kwargs, message", [({"every": 0}, "positive"),
                                             ({"cron": "every day"}, "not a cron"),
                                             ({"after_events": 0}, "at least 1")])
def test_a_bad_schedule_is_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Schedule(**kwargs)


def test_the_schedule_comes_from_the_environment():
    settings = config.load({"MOVIEREC_RETRAIN_EVERY": "15m", "MOVIEREC_RETRAIN_CRON": "0 3 * * *",
                            "MOVIEREC_RETRAIN_AFTER_EVENTS": "0",
                            "MOVIEREC_VAR_DIR": "/nonexistent"})
    assert settings.retrain_every == 900 and settings.retrain_cron == "0 3 * * *"
    assert settings.retrain_after_events is None
    assert config.load({"MOVIEREC_RETRAIN_EVERY": "0"}).retrain_every is None
    assert config.load({}).retrain_every == 6 * 3600
    with pytest.raises(config.ConfigError, match="MOVIEREC_RETRAIN_EVERY"):
        config.load({"MOVIEREC_RETRAIN_EVERY": "soon"})
