"""The code keeps ruff's rules ([tool.ruff] in pyproject.toml): `ruff check .` finds nothing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing():
    # ruff is a test dependency: missing, `python -m ruff` exits non-zero and the test fails
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
