"""shared/ type-checks: mypy ([tool.mypy] in pyproject.toml) finds no error."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_finds_no_error_in_shared(tmp_path):
    # mypy is a test dependency: missing, `python -m mypy` exits non-zero and the test fails
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
