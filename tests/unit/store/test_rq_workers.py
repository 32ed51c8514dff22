"""The worker loop that outlives a Redis outage and stops in time (the real processes:
tests/integration/test_redis_restart.py, tests/integration/test_stop.py)."""
import signal
import threading

import pytest
import redis
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus

from shared.store import rq_workers
from shared.store.rq_workers import (
    RECONNECT_SECONDS,
    JobInterrupted,
    SimpleWorker,
    interruptible,
    work_through_outages,
)


class ScriptedWorker:
    """Stands for an RQ worker whose loop ends as its class's script says: "stop" (it was asked
    to), "error" (RQ logged an error and recorded the worker's end) or "away" (not even that
    reached Redis)."""
    endings: list[str]
    made: list
    teardowns: list[str]

    def __init__(self, queues, connection, serializer=None, name=None):
        self.queues, self.connection = queues, connection
        self.serializer, self.name = serializer, name
        self.ending = self.endings.pop(0)
        self.stop_requested = False
        self.made.append(self)

    def work(self, burst, logging_level):
        if self.ending == "stop":
            self.stop_requested = True
        elif self.ending == "away":
            raise redis.ConnectionError("Connection refused")

    def teardown(self):
        self.teardowns.append(len(self.made))


class RedisBackAfter:
    def __init__(self, failures):
        self.failures, self.pings = failures, 0

    def ping(self):
        self.pings += 1
        if self.pings <= self.failures:
            raise redis.BusyLoadingError("Redis is loading the dataset in memory")
        return True


def scripted(endings, connection):
    """The first worker of a script, the workers made and the teardowns (by how many workers
    had been made then)."""
    worker_class = type("Worker", (ScriptedWorker,),
                        {"endings": list(endings), "made": [], "teardowns": []})
    return worker_class(["q"], connection, "json", "w"), worker_class.made, worker_class.teardowns


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(rq_workers, "RECONNECT_SECONDS", 0)
    monkeypatch.setattr(rq_workers, "_stopping", threading.Event())  # no stop left behind


@pytest.fixture
def signal_handlers():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_a_loop_ended_by_an_error_starts_again_once_redis_answers():
    client = RedisBackAfter(failures=2)
    first, made, teardowns = scripted(["away", "error", "stop"], client)
    work_through_outages(first)
    assert len(made) == 3
    assert [(w.queues, w.connection, w.serializer, w.name) for w in made] == \
        [(["q"], client, "json", "w")] * 3
    assert client.pings == 4  # two refused, then one after each ended loop
    assert teardowns == [1, 2]  # each ended worker's end recorded before the next registers


def test_a_burst_run_ends_on_an_error_as_before():
    first, made, _ = scripted(["away"], RedisBackAfter(0))
    with pytest.raises(redis.ConnectionError):
        work_through_outages(first, burst=True)
    first, made, _ = scripted(["error"], RedisBackAfter(0))
    work_through_outages(first, burst=True)
    assert len(made) == 1


def test_a_stop_asked_for_while_redis_is_away_ends_the_wait():
    class AwayUntilStopped:
        def ping(self):
            signal.raise_signal(signal.SIGTERM)
            raise redis.ConnectionError("Connection refused")

    first, made, teardowns = scripted(["error"], AwayUntilStopped())
    before = signal.getsignal(signal.SIGTERM)
    work_through_outages(first)
    assert len(made) == 1 and teardowns == [1]
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_worker_remembers_a_stop_request_and_retries_redis_often(fake_redis):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    worker = SimpleWorker(["q"], connection=fake_redis, serializer=JSONSerializer)
    assert worker.max_connection_wait_time == RECONNECT_SECONDS and not worker.stop_requested
    try:
        with pytest.raises(StopRequested):  # idle: RQ ends its loop at once
            worker.request_stop(signal.SIGTERM, None)
        assert worker.stop_requested and not rq_workers.stop_requested()  # no job to tell
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def test_a_worker_runs_no_function_but_movierecs_jobs(fake_redis, tmp_path):
    from rq import Queue

    from shared.store.queue import KnownJobsOnly

    marker = tmp_path / "ran"
    queue = Queue("q", connection=fake_redis, serializer=JSONSerializer)
    job = queue.enqueue("os.mkdir", str(marker))
    SimpleWorker([queue], connection=fake_redis, serializer=JSONSerializer).work(burst=True)
    refused = KnownJobsOnly.fetch(job.id, connection=fake_redis, serializer=JSONSerializer)
    assert refused.is_failed and not marker.exists()
    assert "refused to run 'os.mkdir': not a movierec job" in refused.latest_result().exc_string


def test_a_stop_is_told_to_the_job_and_interrupts_only_an_interruptible_one(fake_redis,
                                                                           signal_handlers):
    worker = SimpleWorker(["q"], connection=fake_redis, serializer=JSONSerializer)
    worker.set_state(WorkerStatus.BUSY)  # a job runs: RQ would wait for it to end
    with pytest.raises(JobInterrupted):
        with interruptible():
            worker.request_stop(signal.SIGTERM, None)
            pytest.fail("the interruptible block went on after the stop")
    assert worker.stop_requested and rq_workers.stop_requested()
    with pytest.raises(JobInterrupted):  # nor does one start once a stop was asked for
        with interruptible():
            pytest.fail("an interruptible block started after the stop")


def test_outside_an_interruptible_block_a_stop_only_tells_the_job(fake_redis, signal_handlers):
    worker = SimpleWorker(["q"], connection=fake_redis, serializer=JSONSerializer)
    worker.set_state(WorkerStatus.BUSY)
    worker.request_stop(signal.SIGTERM, None)  # a drain ends between two batches
    assert worker.stop_requested and rq_workers.stop_requested()


def test_a_worker_opens_no_command_channel(fake_redis):
    worker = SimpleWorker(["q"], connection=fake_redis, serializer=JSONSerializer)
    worker.work(burst=True)
    assert worker.pubsub is None and worker.pubsub_thread is None
