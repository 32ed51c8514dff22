"""Write-behind of computed lists (api/write_behind.py)."""
import threading
import time

from api.write_behind import WriteBehind


class Writes:
    def __init__(self, fail_first: int = 0):
        self.batches: list[list] = []
        self.fail_first = fail_first
        self.done = threading.Event()

    def __call__(self, items):
        self.batches.append(items)
        self.done.set()
        if len(self.batches) <= self.fail_first:
            raise ConnectionError("redis went away")


def test_what_a_round_trip_takes_is_not_written_again():
    writes = Writes()
    behind = WriteBehind(writes, delay=0.5)  # the take comes well within it, on a busy machine too
    behind.add("a")
    behind.add("b")
    assert behind.take() == ["a", "b"] and behind.take() == []
    time.sleep(0.7)  # past the delay: the writer woke and found nothing to write
    assert writes.batches == []


def test_what_no_round_trip_takes_is_written_after_the_delay():
    writes = Writes()
    behind = WriteBehind(writes, delay=0.01)
    started = time.monotonic()
    behind.add("a")
    assert writes.done.wait(2)
    assert writes.batches == [["a"]] and time.monotonic() - started >= 0.01


def test_a_failed_write_is_logged_and_the_writer_goes_on(caplog):
    writes = Writes(fail_first=1)
    behind = WriteBehind(writes, delay=0.01)
    behind.add("lost")
    assert writes.done.wait(2)
    writes.done.clear()
    behind.add("kept")
    assert writes.done.wait(2)
    assert writes.batches == [["lost"], ["kept"]]
    assert "1 computed lists not cached: redis went away" in caplog.text
