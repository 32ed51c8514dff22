"""An API on fakeredis with the tiny data imported and its trained version published, for the
modules that build one for all their tests."""
from api import create_app
from shared.config import Settings
from tests.conftest import load_and_publish
from tests.keys import keyed, with_keys


def api_on_fakeredis(tiny_data, tiny_bundle, prefix: str):
    """(a test client sending the write key, the stores) of an app under ``prefix``."""
    import fakeredis

    client = fakeredis.FakeRedis()
    stores = load_and_publish(client, prefix, tiny_data, tiny_bundle)
    app = create_app(with_keys(Settings(key_prefix=prefix)), redis_client=client)
    return keyed(app.test_client()), stores
