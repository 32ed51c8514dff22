"""The active model version of a process, reloaded when the pointer in Redis moves."""
from __future__ import annotations

import threading
import time

from shared.recsys.served import LiveModel
from shared.store.models import ModelStore


class ModelCache:
    """The active version, reloaded when the pointer in Redis moves (checked at most every
    ``check_every`` seconds), so readers pick up a new version without restart. With
    ``components``, only those estimators are loaded (the workers only assign clusters)."""

    def __init__(self, store: ModelStore, check_every: float = 1.0, components=None):
        self.store = store
        self.check_every = check_every
        self.components = components
        self._model: LiveModel | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self) -> LiveModel | None:
        now = time.monotonic()
        if now - self._checked < self.check_every:
            return self._model
        with self._lock:
            if now - self._checked < self.check_every:
                return self._model
            version = self.store.active_version()
            if version is None:
                self._model = None
            elif self._model is None or self._model.version != version:
                self._model = LiveModel(self.store.load(version, self.components))
            self._checked = time.monotonic()
            return self._model
