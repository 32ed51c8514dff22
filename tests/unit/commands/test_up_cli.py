"""``movierec up`` finds its Redis as the settings say."""
from pathlib import Path

from click.testing import CliRunner

from movierec import redis_server
from movierec.cli import main


def test_up_asks_for_the_configured_private_redis(monkeypatch, tmp_path):
    asked = {}

    def no_redis(var_dir, port, url=None, allow_apt=True, maxmemory=None):
        asked.update(var_dir=var_dir, port=port, url=url, allow_apt=allow_apt, maxmemory=maxmemory)
        raise redis_server.RedisUnavailable("no Redis here")

    monkeypatch.setattr(redis_server, "ensure_redis", no_redis)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("MOVIEREC_REDIS_PORT", "6401")
    monkeypatch.setenv("MOVIEREC_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MOVIEREC_NO_APT", "1")
    monkeypatch.setenv("MOVIEREC_REDIS_MAXMEMORY", "300mb")
    result = CliRunner().invoke(main, ["up"])
    assert result.exit_code == 1 and "no Redis here" in result.output
    assert asked == {"var_dir": Path(tmp_path), "port": 6401, "url": None, "allow_apt": False,
                     "maxmemory": "300mb"}


def test_up_tries_the_given_redis_url_first(monkeypatch):
    asked = {}

    def no_redis(var_dir, port, url=None, allow_apt=True, maxmemory=None):
        asked.update(url=url)
        raise redis_server.RedisUnavailable("no Redis here")

    monkeypatch.setattr(redis_server, "ensure_redis", no_redis)
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6379/0")
    assert CliRunner().invoke(main, ["up"]).exit_code == 1
    assert asked == {"url": "redis://elsewhere:6379/0"}
