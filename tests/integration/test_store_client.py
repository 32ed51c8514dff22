"""The retrying Redis client the API uses, on a real server: a dropped connection costs no request."""
import pytest
import redis

from shared.store.client import retrying_client
from shared.config import Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("single", [True, False])
def test_a_connection_the_server_closed_is_reopened_for_the_same_command(redis_url, single):
    client = retrying_client(Settings(redis_url=redis_url), single=single)
    client.set("k", "v")
    admin = redis.Redis.from_url(redis_url)
    assert admin.client_kill_filter(_id=client.client_id()) == 1
    assert client.get("k") == b"v"  # the first command after the drop, not a ConnectionError
