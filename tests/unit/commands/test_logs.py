"""Logs as JSON lines (movierec/logs.py), and the API's access log with the request id."""
import io
import json
import logging
import logging.config

import fakeredis
import pytest

from api import create_app
from movierec.logs import log_config
from shared import config
from tests.keys import WRITE_KEY, with_keys


@pytest.fixture
def json_logs():
    """Configure logging as `movierec serve` does, into a buffer; the lines, parsed."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    document = log_config(config.load({}), "api")
    buffer = io.StringIO()
    document["handlers"]["stderr"]["stream"] = buffer
    logging.config.dictConfig(document)

    def lines():
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    yield lines
    root.handlers[:], root.level = saved


def test_a_log_line_is_one_json_object_naming_its_service(json_logs):
    logging.getLogger("movierec.test").warning("disk %s", "full", extra={"free_bytes": 0})
    (line,) = json_logs()
    assert line["message"] == "disk full" and line["level"] == "WARNING"
    assert line["logger"] == "movierec.test" and line["service"] == "api"
    assert line["free_bytes"] == 0 and "time" in line


def test_the_apis_log_lines_name_their_request(json_logs):
    app = create_app(with_keys(config.Settings(key_prefix="t")), redis_client=fakeredis.FakeRedis())
    with app.test_request_context(headers={"X-Request-ID": "req-9"}):
        app.preprocess_request()
        logging.getLogger("api.test").error("something failed")
    (line,) = json_logs()
    assert line["message"] == "something failed" and line["request_id"] == "req-9"


def access_lines(settings, call) -> list[str]:
    app = create_app(with_keys(settings), redis_client=fakeredis.FakeRedis())
    access_log = app.extensions.get("access_log")
    if access_log is not None:
        access_log.stream = io.StringIO()
    call(app.test_client())
    if access_log is None:
        return []
    assert access_log.stream.getvalue() == ""  # gathered, not yet written
    access_log.flush()
    return access_log.stream.getvalue().splitlines()


def test_each_request_writes_an_access_line_with_its_request_id():
    def post(client):
        response = client.post("/v1/events", json={"type": "rating", "user_id": 1, "movie_id": 2,
                                                   "rating": 4.0},
                               headers={"X-API-Key": WRITE_KEY, "X-Request-ID": "req-7"})
        assert response.status_code == 202

    (line,) = [json.loads(text) for text in access_lines(config.Settings(key_prefix="t"), post)]
    assert line["message"] == "POST /v1/events 202" and line["request_id"] == "req-7"
    assert line["logger"] == "movierec.access" and line["service"] == "api"
    assert line["endpoint"] == "events.post_events" and line["status"] == 202
    assert line["duration_ms"] >= 0 and len(line["key"]) == 12 and WRITE_KEY not in str(line)


def test_the_access_log_follows_the_format_and_can_be_turned_off():
    def get(client):
        assert client.get("/healthz").status_code == 200

    (text,) = access_lines(config.load({"MOVIEREC_LOG_FORMAT": "text"}), get)
    assert text.endswith(" api INFO movierec.access: GET /healthz 200")
    assert access_lines(config.load({"MOVIEREC_ACCESS_LOG": "off"}), get) == []
    assert access_lines(config.load({"MOVIEREC_LOG_LEVEL": "WARNING"}), get) == []


def test_text_logs_for_people():
    settings = config.load({"MOVIEREC_LOG_FORMAT": "text"})
    formatter = log_config(settings, "worker")["formatters"]["text"]
    assert formatter["format"].startswith("%(asctime)s worker ")


def test_gunicorn_builds_no_access_line_of_its_own(monkeypatch):
    """With a logging configuration gunicorn would build every request's access-log fields
    even with gunicorn.access silenced; the API's logger class skips them."""
    from gunicorn.config import Config

    from movierec.commands.serve import gunicorn_options

    cfg = Config()
    for key, value in gunicorn_options("127.0.0.1:0", 1, "sync").items():
        cfg.set(key, value)
    cfg.set("logconfig_dict", log_config(config.load({}), "api"))
    logger = cfg.logger_class(cfg)
    built = []
    monkeypatch.setattr(logger, "atoms", lambda *args: built.append(args) or {})
    logger.access(None, None, {}, None)
    assert built == []
