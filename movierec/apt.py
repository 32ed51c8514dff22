"""Debian packages the project installs itself when a machine lacks them (redis-server, a Java
runtime for Spark), with ``apt-get`` and without starting any system service."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def apt_get_problem(allow_apt: bool = True) -> str | None:
    """Why ``apt-get install`` cannot be used here, or None when it can."""
    if not allow_apt:
        return "MOVIEREC_NO_APT is set"
    if shutil.which("apt-get") is None:
        return "apt-get is not available on this machine"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        if shutil.which("sudo") is None or subprocess.run(
                ["sudo", "-n", "true"], capture_output=True).returncode != 0:
            return "installing packages needs root (no password-less sudo)"
    return None


def apt_install(package: str, why: str) -> str | None:
    """Install Debian's ``package`` (``why``: what needs it, for the message); None when it
    went well, else what apt-get said."""
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"movierec: {why}; installing Debian's {package} package", file=sys.stderr)
    # policy-rc.d exit 101 stops dpkg from starting a system-wide service: we run our own.
    policy = Path("/usr/sbin/policy-rc.d")
    had_policy = policy.exists()
    try:
        if not had_policy and os.geteuid() == 0:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        update = subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env,
                                capture_output=True, text=True)
        install = subprocess.run(
            sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
            env=env, capture_output=True, text=True)
    finally:
        if not had_policy and os.geteuid() == 0:
            policy.unlink(missing_ok=True)
    if install.returncode == 0:
        return None
    return (f"apt-get install {package} failed (exit {install.returncode}):\n"
            f"    {(install.stderr or update.stderr).strip()[-400:]}")
