"""What the benchmark scripts share: the machine they ran on, markdown tables,
and rewriting the generated block of a results document (the prose around it stays by hand)."""
from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

BLOCK_END = "<!-- end of results -->"


def block_begin(script: str) -> str:
    return f"<!-- results: written by {script}, do not edit by hand -->"


def machine_info() -> dict:
    """CPU, cores, memory, versions and the load when the run started (timings depend on it)."""
    import numpy
    import scipy
    import sklearn

    cpu = next((line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(sorted({f"{p['internal_api']} {p.get('version') or ''} "
                                 f"({p['num_threads']} threads)".replace("  ", " ")
                                 for p in threadpool_info() if p["user_api"] == "blas"}))
    except Exception:  # informational only
        blas = "?"
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": code_version(),
            "cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024 ** 2, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "numpy": numpy.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__, "blas": blas,
            "loadavg_at_start": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def code_version() -> str:
    """The checkout's commit, marked when the product code differs from it."""
    root = Path(__file__).resolve().parents[1]

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "shared", "trainer")
    return commit + (" (shared/ or trainer/ modified)" if dirty else "")


def machine_lines(info: dict) -> str:
    return "".join(f"- {key}: {value}\n" for key, value in info.items())


def table(header: list[str], rows: list[list]) -> str:
    """A markdown table; floats are written as given (format them before)."""
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---:" if i else "---" for i in range(len(header))) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_results(doc: Path, script: str, block: str, title: str) -> None:
    """Replace the generated block of ``doc`` (or append one) with ``block``."""
    begin = block_begin(script)
    text = doc.read_text() if doc.exists() else f"# {title}\n\n"
    new = f"{begin}\n{block}{BLOCK_END}"
    if begin in text and BLOCK_END in text:
        head, rest = text.split(begin, 1)
        text = head + new + rest.split(BLOCK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
