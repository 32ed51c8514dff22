"""Make sure Spark can start: a Java runtime it supports (17 or newer, as Spark 4 needs),
installed with apt-get when missing, and the ``pyspark`` package (the ``spark`` extra).

Used by ``make test`` (``python -m movierec.java ensure``) and before a retrain with
``--engine spark``, so that what is missing is said before any work is done.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

from movierec.apt import apt_get_problem, apt_install
from shared import config

MIN_JAVA = 17
JAVA_PACKAGE = "openjdk-17-jre-headless"
HOW_TO_PROVIDE_SPARK = """\
a retrain on Spark needs {what}:
{reasons}
Provide it, then run the command again:
  - a Java runtime, {min_java} or newer:  sudo apt-get install {package}  (or set JAVA_HOME)
  - pyspark:                            .venv/bin/pip install -e '.[spark]'"""


class SparkUnavailable(RuntimeError):
    """Spark cannot start here; the message says what is missing and how to provide it."""


def _unavailable(what: str, reason: str) -> SparkUnavailable:
    return SparkUnavailable(HOW_TO_PROVIDE_SPARK.format(
        what=what, reasons=f"  - {reason}", min_java=MIN_JAVA, package=JAVA_PACKAGE))


def find_java() -> str | None:
    """``$JAVA_HOME/bin/java`` when JAVA_HOME is set (as Spark picks it), else java on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def java_version(java: str) -> int | None:
    """The runtime's major version (8 for 1.8), or None when it does not say."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def ensure_java(allow_apt: bool = True) -> str:
    """Path of a java of at least :data:`MIN_JAVA`, installing Debian's runtime with apt-get
    when none is found and ``allow_apt``."""
    java = find_java()
    if java is None and os.environ.get("JAVA_HOME"):
        raise _unavailable("Java", f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java")
    if java is not None:
        version = java_version(java)
        if version is not None and version >= MIN_JAVA:
            return java
        found = f"{java} is Java {version if version is not None else '(version unknown)'}"
    else:
        found = "no java on PATH"
    problem = apt_get_problem(allow_apt)
    if problem:
        raise _unavailable("Java", f"{found}, and {problem}")
    failed = apt_install(JAVA_PACKAGE, found)
    if failed:
        raise _unavailable("Java", failed)
    java = shutil.which("java")
    version = java_version(java) if java else None
    if version is None or version < MIN_JAVA:
        raise _unavailable("Java", f"after installing {JAVA_PACKAGE}, java is still "
                                   f"{java or 'not on PATH'} ({version})")
    return java


def ensure_pyspark() -> str:
    """pyspark's version, or SparkUnavailable saying how to install it."""
    try:
        import pyspark
    except ImportError:
        raise _unavailable("pyspark", "pyspark is not installed (the `spark` extra)") from None
    return pyspark.__version__


def ensure_spark(allow_apt: bool = True) -> str:
    """What a retrain on Spark runs on: pyspark and Java, both checked (Java installed when
    missing and allowed)."""
    version = ensure_pyspark()
    return f"pyspark {version} on {ensure_java(allow_apt)}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movierec.java", description=__doc__)
    parser.add_argument("action", choices=["ensure"],
                        help="ensure: pyspark importable and a Java runtime it supports "
                             "(installed with apt-get when missing)")
    parser.parse_args(argv)
    try:
        print(f"movierec: Spark can start: {ensure_spark(config.load().allow_apt)}")
    except (SparkUnavailable, config.ConfigError) as exc:
        print(f"movierec: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
