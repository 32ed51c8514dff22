"""Application factory: configuration from the environment, Redis, blueprints, JSON errors."""
from __future__ import annotations

import logging

import redis
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from shared import config
from shared.keys import Keys
from shared.model_store import ModelStore
from shared.queue import events_queue
from shared.serving import ModelCache, single_threaded_blas
from shared.store import RatingStore

MAX_BODY_BYTES = 1024 * 1024

log = logging.getLogger(__name__)


class Services:
    """What the request handlers share: one Redis connection, the key schema, the ratings store.

    One connection, not a pool: a gunicorn sync worker serves one request at a time, and
    taking a pooled connection costs each command a liveness poll (measured: about 5 % of a
    single-event POST)."""

    def __init__(self, settings: config.Settings, client: redis.Redis | None = None):
        self.settings = settings
        self.redis = client or redis.Redis.from_url(settings.redis_url, socket_timeout=5,
                                                    health_check_interval=30,
                                                    single_connection_client=True)
        self.keys = Keys(settings.key_prefix)
        self.store = RatingStore(self.redis, self.keys)
        self.queue = events_queue(self.redis, settings)
        self.models = ModelCache(ModelStore(self.redis, self.keys), warm_up=True)


def create_app(settings: config.Settings | None = None, redis_client: redis.Redis | None = None) -> Flask:
    settings = settings or config.load()
    single_threaded_blas()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    app.extensions["movierec"] = Services(settings, redis_client)

    from api import events, health, movies, openapi, users
    from api.params import InvalidParameter, invalid_parameter

    for module in (health, events, users, movies, openapi):
        app.register_blueprint(module.bp)
    app.register_error_handler(InvalidParameter, invalid_parameter)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code

    @app.errorhandler(redis.RedisError)
    def redis_down(exc: redis.RedisError):
        log.error("redis error: %s", exc)
        return jsonify(error="unavailable", message="the data store is not reachable; retry later"), 503

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return jsonify(error="internal_error", message="an unexpected error occurred"), 500

    return app
