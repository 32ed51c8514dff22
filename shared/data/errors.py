"""The one error every MovieLens reader raises."""
from __future__ import annotations

from pathlib import Path


class LoadError(ValueError):
    """A dataset folder or file that cannot be read: ``path``, 1-based ``line`` (counting the
    header; None when the problem is not on one line) and ``reason``."""

    def __init__(self, path, reason: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = str(self.path) if line is None else f"{self.path} line {line}"
        super().__init__(f"{where}: {reason}")
