"""The secrets ``make run`` makes for itself under the var folder, once, readable by the owner
only: the API keys (``api-keys.env``) and the private Redis's password (``redis.password``)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

API_KEYS_FILE = "api-keys.env"
REDIS_PASSWORD_FILE = "redis.password"
REDIS_USER = "movierec"
KEY_VARIABLES = ("MOVIEREC_WRITE_KEYS", "MOVIEREC_ADMIN_KEYS")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable and writable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def api_keys(var_dir: Path) -> dict[str, str]:
    """A write key and an admin key as environment variables: those of ``var_dir /
    API_KEYS_FILE``, made on the first run."""
    path = Path(var_dir) / API_KEYS_FILE
    if not path.exists():
        write_private(path, "".join(f"{name}={secrets.token_urlsafe(24)}\n"
                                     for name in KEY_VARIABLES))
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    keys = {name.strip(): value.strip() for name, value in pairs}
    missing = [name for name in KEY_VARIABLES if not keys.get(name)]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: add them, or delete the file and "
                         "movierec makes new keys")
    return keys


def redis_password(var_dir: Path) -> str:
    """The private redis-server's password (user ``REDIS_USER``), made on the first run."""
    path = Path(var_dir) / REDIS_PASSWORD_FILE
    if not path.exists():
        write_private(path, secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()
