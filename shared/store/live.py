"""The active model version of a process, reloaded when the pointer in Redis moves."""
from __future__ import annotations

import logging
import threading
import time

from shared.recsys.served import LiveModel
from shared.store.models import ModelLoadError, ModelStore

log = logging.getLogger(__name__)

RETRY_FAILED_SECONDS = 30.0  # a version that failed to load is tried again after this


class ModelCache:
    """The active version, reloaded when the pointer in Redis moves (checked at most every
    ``check_every`` seconds), so readers pick up a new version without restart. With
    ``components``, only those estimators are loaded (the workers only assign clusters).

    When the active version cannot be loaded, the process keeps serving the version it has
    (``load_error`` says why) and tries again after ``RETRY_FAILED_SECONDS``, or as soon as
    the pointer moves.

    The version a new one replaced stays loaded for ``keep_replaced`` seconds (None: not at
    all): a rollback to it, in that time, switches at the next check without loading, which
    on a large catalogue takes seconds in which the process answers nothing. It costs the
    memory of a second version for that long.

    The estimators named in ``deferred`` are read and built on their first use, not when
    the version is loaded (:attr:`LiveModel.DEFERRABLE`)."""

    def __init__(self, store: ModelStore, check_every: float = 1.0, components=None,
                 keep_replaced: float | None = None, deferred=()):
        self.store = store
        self.check_every = check_every
        self.components = components
        self.keep_replaced = keep_replaced
        self.deferred = tuple(deferred)
        self.load_error: str | None = None
        self._model: LiveModel | None = None
        self._replaced: tuple[LiveModel, float] | None = None  # (model, replaced when)
        self._failed: tuple[str, float] | None = None  # (version, when)
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self) -> LiveModel | None:
        """The model of a version that was active at most ``check_every`` seconds ago: the
        clock starts when the pointer is read, not when a version has finished loading."""
        if time.monotonic() - self._checked < self.check_every:
            return self._model
        with self._lock:
            now = time.monotonic()
            if now - self._checked < self.check_every:
                return self._model
            version = self.store.active_version()
            if self._replaced is not None and (self.keep_replaced is None
                                               or now - self._replaced[1] > self.keep_replaced):
                self._replaced = None
            if version is None:
                self._model, self.load_error = None, None
            elif self._model is not None and self._model.version == version:
                self.load_error = None
            elif self._replaced is not None and self._replaced[0].version == version:
                self._swap(self._replaced[0], now)
                self.load_error = None
            elif self._may_try(version, now):
                self._load(version, now)
            self._checked = now
            return self._model

    def _swap(self, model: LiveModel, now: float) -> None:
        """Serve ``model``, keeping the one it replaces (when it may be kept)."""
        replaced = self._model
        self._model = model
        self._replaced = (replaced, now) if replaced is not None and self.keep_replaced \
            else None

    def _may_try(self, version: str, now: float) -> bool:
        return (self._failed is None or self._failed[0] != version
                or now - self._failed[1] >= RETRY_FAILED_SECONDS)

    def _load(self, version: str, now: float) -> None:
        try:
            loaded = LiveModel(self.store.load(version, self.components, self.deferred))
            self._replaced = None  # one version loaded beside the served one, at most
            self._swap(loaded, now)
            self._failed, self.load_error = None, None
        except ModelLoadError as exc:
            self._failed, self.load_error = (version, now), str(exc)
            serving = self._model.version if self._model else "no version"
            log.error("%s; still serving %s", exc, serving)
