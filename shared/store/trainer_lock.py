"""One trainer at a time: a lock in Redis with an expiry that the running trainer renews.

A trainer killed mid-run stops renewing; its lock lapses after ``ttl`` seconds, and with it the
building pointer, so the ratings script stops keeping the dead run's counters. What the run
stored is then swept by the next holder (:meth:`shared.store.models.ModelStore.discard_abandoned`).
Only the holder may point the ratings script at a version or flip the active pointer: a trainer
that lost its lock (paused past the expiry) cannot activate anything.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from shared.store.client import lua_script
from shared.store.counted_versions import CountedVersions
from shared.store.keys import Keys


class LockHeld(Exception):
    """Another trainer holds the lock; ``holder`` says who, as it wrote it."""

    def __init__(self, holder: dict | None):
        self.holder = holder or {}
        who = (f"{self.holder.get('what', 'a trainer')} on {self.holder.get('host', '?')}, "
               f"pid {self.holder.get('pid', '?')}, since "
               f"{time.strftime('%H:%M:%S', time.localtime(self.holder.get('since', 0)))}")
        super().__init__(f"another trainer holds the lock ({who})")


class LockLost(Exception):
    """This trainer's lock lapsed (it did not renew in time): it must not activate anything."""


class TrainerLock:
    def __init__(self, client: redis.Redis, keys: Keys, ttl: float = 30.0):
        self.keys = keys
        self.ttl = ttl
        self.token: str | None = None
        self.lost = False
        self.building: str | None = None
        self._redis = client
        self._script = lua_script(client, "trainer.lua")
        self._counted = CountedVersions(client, keys)

    def holder(self) -> dict | None:
        """Who holds the lock (host, pid, since, what), or None."""
        value = self._redis.get(self.keys.trainer_lock)
        return json.loads(value) if value else None

    def acquire(self, what: str = "retrain") -> bool:
        token = json.dumps({"id": uuid.uuid4().hex, "host": socket.gethostname(),
                            "pid": os.getpid(), "since": time.time(), "what": what})
        # the token is ours before Redis answers: a stop that interrupts this call once the lock
        # is set still finds the token to release it with
        self.token, self.lost = token, False
        if self._call("acquire", token, self._ttl_ms()):
            return True
        self.token = None
        return False

    def renew(self) -> bool:
        if self.building is not None:  # the partitions' copy first: it outlives the pointer
            self._counted.count(self.building, 2 * self._ttl_ms())
        ok = self._held_call("renew", self._ttl_ms())
        self.lost = self.lost or not ok
        return ok

    def build(self, version: str) -> None:
        """Point the ratings script at ``version``: it keeps its counters beside the active
        version's until :meth:`flip` (or until the lock lapses)."""
        self._counted.count(version, 2 * self._ttl_ms())
        self.building = version
        if not self._held_call("build", version, self._ttl_ms()):
            raise LockLost("the trainer lock lapsed before the counters were built")

    def flip(self, version: str) -> None:
        """Make ``version`` the active one (readers switch within their check interval)."""
        if self.lost:
            raise LockLost(f"the trainer lock lapsed: {version} was not activated")
        self._counted.count(version)
        if not self._held_call("flip", version):
            raise LockLost(f"the trainer lock lapsed: {version} was not activated")
        self.building = None
        self._counted.keep_only({version})

    def release(self) -> None:
        if self.token is not None:
            self._held_call("release")
            self.token = None
        if self.building is not None:
            active = self._redis.get(self.keys.active_version)
            self._counted.keep_only({active.decode()} if active else set())
            self.building = None

    @contextmanager
    def held(self, what: str = "retrain") -> Iterator[TrainerLock]:
        """Hold the lock for the block, renewed every third of its expiry by a thread."""
        stop, renewer = threading.Event(), None

        def keep_renewing():
            while not stop.wait(self.ttl / 3):
                try:
                    if not self.renew():
                        return
                except redis.RedisError:
                    continue  # Redis away for a moment: the next attempt may still be in time

        try:  # from the acquire on: a stop may interrupt any line, and the lock is released
            if not self.acquire(what):
                raise LockHeld(self.holder())
            renewer = threading.Thread(target=keep_renewing, name="trainer-lock", daemon=True)
            renewer.start()
            yield self
        finally:
            stop.set()
            if renewer is not None and renewer.ident is not None:
                renewer.join()
            self.release()

    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def _held_call(self, command: str, *args) -> bool:
        return self.token is not None and self._call(command, self.token, *args)

    def _call(self, command: str, token: str, *args) -> bool:
        keys = self.keys
        return bool(self._script(keys=[keys.trainer_lock, keys.building_version,
                                       keys.active_version, keys.version_states],
                                 args=[command, token, *args]))
