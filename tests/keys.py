"""API keys for tests: settings that configure them, clients that send one."""
from __future__ import annotations

import dataclasses

from shared.config import Settings

READ_KEY = "test-read-key-0000000000"
WRITE_KEY = "test-write-key-000000000"
ADMIN_KEY = "test-admin-key-000000000"
KEYS_ENV = {"MOVIEREC_WRITE_KEYS": WRITE_KEY, "MOVIEREC_ADMIN_KEYS": ADMIN_KEY}


def with_keys(settings: Settings, read: bool = False) -> Settings:
    """``settings`` with the test write and admin keys (and the read key with ``read``)."""
    return dataclasses.replace(settings, write_keys=(WRITE_KEY,), admin_keys=(ADMIN_KEY,),
                               read_keys=(READ_KEY,) if read else ())


def keyed(client, key: str = WRITE_KEY):
    """A Flask test client that sends ``key`` with every request."""
    client.environ_base["HTTP_X_API_KEY"] = key
    return client
