"""What a retrain on Spark needs, said before any work: Java 17+ and pyspark."""
import builtins
import stat

import pytest

from movierec import java
from movierec.java import SparkUnavailable


def fake_java(tmp_path, version_line: str):
    path = tmp_path / "bin" / "java"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.mark.parametrize("line, major", [
    ('openjdk version "17.0.15" 2025-04-15', 17), ('java version "1.8.0_402"', 8),
    ('openjdk version "21" 2023-09-19', 21), ("no version here", None)])
def test_the_java_version_is_read_as_spark_reads_it(tmp_path, line, major):
    assert java.java_version(str(fake_java(tmp_path, line))) == major


def test_java_home_is_used_and_an_old_java_is_refused_without_apt(tmp_path, monkeypatch):
    fake_java(tmp_path, 'java version "1.8.0_402"')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(SparkUnavailable) as refused:
        java.ensure_java(allow_apt=False)
    message = str(refused.value)
    assert "is Java 8" in message and "MOVIEREC_NO_APT" in message
    assert "openjdk-17-jre-headless" in message


def test_a_java_home_without_java_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(SparkUnavailable, match="has no bin/java"):
        java.ensure_java(allow_apt=False)


def test_a_recent_java_is_found(tmp_path, monkeypatch):
    path = fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert java.ensure_java(allow_apt=False) == str(path)


def test_missing_pyspark_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def without_pyspark(name, *args, **kwargs):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError("No module named 'pyspark'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_pyspark)
    with pytest.raises(SparkUnavailable, match=r"pip install -e '\.\[spark\]'"):
        java.ensure_pyspark()
