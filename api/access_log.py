"""The access log: a line per request, in the format of the other logs (``MOVIEREC_LOG_FORMAT``),
with what an operator filters on: endpoint, status, duration, the key's id (never the key) and
the request id.

Lines are gathered and written to stderr together, every FLUSH_LINES lines or FLUSH_SECONDS,
not through the logging module: a record through it (python-json-logger's formatter, the
handler's lock and flush) cost 0.08-0.13 ms of CPU a request here, a sixth of a cached GET
(docs/live-benchmark.md); gathered, a line costs a dict and its encoding
(:func:`api.encoding.encode`). A process killed with SIGKILL loses at most its last
FLUSH_SECONDS of lines.
"""
from __future__ import annotations

import atexit
import sys
import threading
import time

from api.encoding import encode

FLUSH_LINES = 64
FLUSH_SECONDS = 1.0
LOGGER = "movierec.access"


class AccessLog:
    def __init__(self, log_format: str, service: str = "api", stream=None):
        self.json = log_format == "json"
        self.service = service
        self.stream = stream or sys.stderr
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.flusher: threading.Thread | None = None  # started by the first line
        self.second, self.second_text = None, ""  # the last second a line named, formatted
        atexit.register(self.flush)

    def write(self, req, response, seconds: float, request_id: str, key_id: str | None) -> None:
        """The line of request ``req`` answered by ``response`` in ``seconds`` (a step of
        :class:`api.hooks.RequestHooks`)."""
        now = time.time()
        second = int(now)
        if second != self.second:
            self.second, self.second_text = second, time.strftime("%Y-%m-%d %H:%M:%S",
                                                                  time.localtime(second))
        stamp = f"{self.second_text},{int(now % 1 * 1000):03d}"
        path, status = req.path, response.status_code
        message = f"{req.method} {path} {status}"
        if self.json:
            line = encode({
                "time": stamp, "level": "INFO", "logger": LOGGER, "message": message,
                "service": self.service, "method": req.method, "path": path, "status": status,
                "endpoint": req.endpoint, "duration_ms": round(seconds * 1e3, 2),
                "remote": req.remote_addr, "key": key_id,
                "bytes": response.content_length, "request_id": request_id}).decode()
        else:
            line = f"{stamp} {self.service} INFO {LOGGER}: {message}"
        self.lines.append(line + "\n")
        if self.flusher is None:
            self.flusher = threading.Thread(target=self._flush_every_second, name="access-log",
                                            daemon=True)
            self.flusher.start()
        if len(self.lines) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            lines, self.lines = self.lines, []
            if lines and not self.stream.closed:  # (closed: the process is ending)
                self.stream.write("".join(lines))
                self.stream.flush()

    def _flush_every_second(self) -> None:
        tick = threading.Event()  # never set: its wait is the pause
        while not tick.wait(FLUSH_SECONDS):
            self.flush()
