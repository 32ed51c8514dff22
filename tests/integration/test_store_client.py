"""The retrying Redis client the API uses, on a real server: a dropped connection costs no
request."""
import pytest
import redis

from shared.config import Settings
from shared.store.client import retrying_client, script_calls
from tests.keys import keyed, with_keys

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("single", [True, False])
def test_a_connection_the_server_closed_is_reopened_for_the_same_command(redis_url, single):
    client = retrying_client(Settings(redis_url=redis_url), single=single)
    client.set("k", "v")
    admin = redis.Redis.from_url(redis_url)
    assert admin.client_kill_filter(_id=client.client_id()) == 1
    assert client.get("k") == b"v"  # the first command after the drop, not a ConnectionError



def test_script_calls_on_a_connection_the_server_closed_are_sent_again(redis_url):
    client = retrying_client(Settings(redis_url=redis_url))
    echo = client.register_script("return ARGV[1]")
    assert script_calls(client, [(echo, [], ["before"])]) == [b"before"]
    admin = redis.Redis.from_url(redis_url)
    assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    assert script_calls(client, [(echo, [], ["a"]), (echo, [], ["b"])]) == [b"a", b"b"]


def test_a_script_call_cut_short_leaves_no_reply_for_the_next_one(redis_url, monkeypatch):
    client = retrying_client(Settings(redis_url=redis_url))
    echo = client.register_script("return ARGV[1]")
    script_calls(client, [(echo, [], ["warm"])])
    connection_class = redis.connection.Connection
    real_read = connection_class.read_response

    def give_up(self, *args, **kwargs):  # as a request's greenlet killed mid-call would
        raise KeyboardInterrupt

    monkeypatch.setattr(connection_class, "read_response", give_up)
    with pytest.raises(KeyboardInterrupt):
        script_calls(client, [(echo, [], ["lost"]), (echo, [], ["lost too"])])
    monkeypatch.setattr(connection_class, "read_response", real_read)
    assert script_calls(client, [(echo, [], ["next"])]) == [b"next"]


def test_a_full_redis_is_a_507_and_a_silent_one_a_503_with_retry_after(redis_url):
    from api import create_app
    from shared.config import Settings
    from shared.store.keys import Keys

    client = redis.Redis.from_url(redis_url)
    app = create_app(with_keys(Settings(redis_url=redis_url, key_prefix="full")))
    web = keyed(app.test_client())
    event = {"type": "rating", "user_id": 1, "movie_id": 2, "rating": 4}
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)  # below what Redis already uses: every write is refused
    try:
        response = web.post("/v1/events", json=event)
        assert response.status_code == 507 and response.get_json()["error"] == "storage_full"
        assert "its retry applies each once" in response.get_json()["message"]
    finally:
        client.config_set("maxmemory", 0)
    keys = Keys("full")
    assert sum(client.llen(keys.inbox(p)) for p in range(keys.partitions)) == 0
    assert web.post("/v1/events", json=event).status_code == 202



def test_while_redis_is_down_the_api_answers_503_with_retry_after(tmp_path):
    from api import create_app
    from movierec.redis_server import start_private
    from tests.conftest import free_port

    handle = start_private(tmp_path, port=free_port())
    settings = with_keys(Settings(redis_url=handle.url, key_prefix="down"))
    web = keyed(create_app(settings).test_client())
    handle.process.kill()  # SIGKILL: no shutdown, no save
    handle.process.wait()
    for method, path, body in (("post", "/v1/events", {"type": "favourite", "user_id": 1,
                                                        "movie_id": 2}),
                               ("get", "/v1/users/1/recommendations", None),
                               ("get", "/v1/movies/1", None)):
        response = getattr(web, method)(path, json=body)
        assert response.status_code == 503, (path, response.get_data(as_text=True))
        assert response.headers["Retry-After"] == "1"
        assert response.get_json()["error"] == "unavailable"
