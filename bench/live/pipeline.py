"""What the benchmark reads from, and clears in, the private Redis: events and RQ jobs still on
their way to the ratings store, the jobs' results, the ratings script's run time."""
from __future__ import annotations

import time

from .settings import QUEUE


class Pipeline:
    """What is still on its way from the API to the ratings store: events waiting in Redis
    (the API's inbox) and jobs queued or running."""

    def __init__(self, client, queue_client, keys):
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.client = client
        self.queue = Queue(QUEUE, connection=queue_client, serializer=JSONSerializer)
        self.inboxes = [keys.inbox(p) for p in range(keys.partitions)]

    def waiting_events(self) -> int:
        with self.client.pipeline(transaction=False) as pipe:
            for inbox in self.inboxes:
                pipe.llen(inbox)
            return sum(pipe.execute())

    def backlog(self) -> int:
        """Events waiting plus jobs queued."""
        return self.waiting_events() + self.queue.count

    def idle(self) -> bool:
        return (self.waiting_events() == 0 and self.queue.count == 0
                and self.queue.started_job_registry.count == 0)

    def wait_idle(self, timeout: float, poll: float = 0.005) -> float | None:
        """Seconds until nothing is waiting or running, or None at the timeout."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.idle():
                return time.monotonic() - t0
            time.sleep(poll)
        return None

    def finished_ids(self) -> set[str]:
        return set(self.queue.finished_job_registry.get_job_ids())

    def results_since(self, before: set[str]) -> list[dict]:
        """Results of the jobs that finished since ``before`` was taken (RQ keeps them a while)."""
        from rq.job import Job

        ids = sorted(self.finished_ids() - before)
        out = []
        for start in range(0, len(ids), 200):
            for job in Job.fetch_many(ids[start:start + 200], connection=self.queue.connection,
                                      serializer=self.queue.serializer):
                result = job.return_value() if job is not None else None
                if isinstance(result, dict):
                    out.append(result)
        return out


def reset_stats(nodes) -> None:
    for node in nodes:
        node.config_resetstat()


def lua_stats(nodes) -> tuple[int, int]:
    """(calls, microseconds) the Redis servers holding data spent in EVALSHA since the last
    CONFIG RESETSTAT (:func:`reset_stats`)."""
    entries = [node.info("commandstats").get("cmdstat_evalsha", {}) for node in nodes]
    return (sum(int(e.get("calls", 0)) for e in entries),
            sum(int(e.get("usec", 0)) for e in entries))


def delete_matching(client, pattern: str) -> None:
    for key in client.scan_iter(match=pattern, count=1000):
        client.delete(key)
