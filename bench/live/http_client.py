"""Requests to the services on 127.0.0.1, each on a fresh connection."""
from __future__ import annotations

import contextlib
import http.client
import subprocess
import time

from .settings import API_KEY


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 timeout: float = 10) -> tuple[int, bytes]:
    """One request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"X-API-Key": API_KEY}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def get_recommendations(port: int, user: int) -> tuple[int, bytes]:
    """The user's top 10, as a client asks for them."""
    return http_request(port, "GET", f"/v1/users/{user}/recommendations?n=10")


def scrape_metrics(port: int) -> dict[tuple, float]:
    """GET /metrics: sample (name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http_request(port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples}


def wait_http(port: int, path: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the process serving port {port} exited ({proc.returncode})")
        with contextlib.suppress(OSError):
            if http_request(port, "GET", path, timeout=2)[0] == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"http://127.0.0.1:{port}{path} did not answer 200 within {timeout:.0f} s")
