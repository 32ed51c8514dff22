"""The machine and the versions the run was on, and how busy other programs kept it."""
from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

from bench.benchdoc import machine_info as common_machine_info

from .cpu import CpuMeter


def _first_line(cmd: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    return "?"


def machine_info() -> dict:
    """CPU, memory, kernel and the servers' versions; then the cores other programs used over
    2 idle seconds and the load average after them."""
    import gunicorn
    import redis as redis_py
    import rq

    try:
        import hiredis  # noqa: F401
        parser = "hiredis"
    except ImportError:
        parser = "pure-Python (no hiredis)"
    common = common_machine_info()
    info = {key: common[key] for key in ("cpu", "cores", "memory_gb", "kernel", "python")}
    idle = CpuMeter({})
    idle.start()
    time.sleep(2)
    return {**info,
            "redis": _first_line(["redis-server", "--version"]).split(" sha=")[0],
            "wrk": _first_line(["wrk", "--version"]).split(" [")[0],
            "gunicorn": gunicorn.__version__, "redis_py": redis_py.__version__,
            "redis_parser": parser, "rq": rq.__version__,
            "other_cores_before": idle.stop()["other"],
            "loadavg_before": " ".join(Path("/proc/loadavg").read_text().split()[:3])}
