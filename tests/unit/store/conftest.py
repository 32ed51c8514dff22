"""The store tests run their assertions twice: on fakeredis, and on a real Redis where the
integration tests run, so that fakeredis never passes what Redis would fail."""
import pytest


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.integration)])
def client(request):
    return request.getfixturevalue("fake_redis" if request.param == "fakeredis" else "real_redis")
