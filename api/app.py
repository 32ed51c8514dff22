"""Application factory: configuration from the environment, Redis, blueprints, JSON errors."""
from __future__ import annotations

import logging
from functools import partial

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from api.auth import Keyring
from api.encoding import FastJSONProvider
from api.group_commit import GroupCall
from api.write_behind import WriteBehind
from shared import config
from shared.recsys.blas import single_threaded_blas
from shared.recsys.served import LiveModel
from shared.store.catalogue import CatalogueCache
from shared.store.client import StoreError, StoreFull, retrying_client
from shared.store.counters import TrendingCache
from shared.store.inbox import Inbox
from shared.store.live import ModelCache
from shared.store.models import ModelLoadError
from shared.store.stores import Stores

MAX_BODY_BYTES = 1024 * 1024

log = logging.getLogger(__name__)


class Services:
    """What the request handlers share: Redis, the key schema, the stores, the model.

    The calls on the hot paths, pushing events and looking up recommendation lists, go
    through a :class:`GroupCall` each, on a client of their own: requests of one process that
    reach them at the same time (gevent workers) share a round trip. The pushes hold one
    connection, which spares them the pool's check before each call (docs/live-benchmark.md);
    the lookups keep it, which their latency's tail needs (``script_calls``). The lists
    computed are kept by the next lookup's round trip (:mod:`api.write_behind`)."""

    def __init__(self, settings: config.Settings, client=None):
        stores = Stores(client or retrying_client(settings), settings)
        self.settings = settings
        self.keyring = Keyring(settings)
        self.redis, self.keys = stores.redis, stores.keys
        self.ratings, self.inbox, self.counters = stores.ratings, stores.inbox, stores.counters
        self.catalogue = stores.catalogue
        self.catalogue_cache = CatalogueCache(stores.catalogue)
        self.queue, self.retrain_queue = stores.events_queue, stores.retrain_queue
        # the rating model is built when a request first needs it: lists do not wait for it
        self.models = ModelCache(stores.models, keep_replaced=settings.keep_replaced_version,
                                 deferred=LiveModel.DEFERRABLE)
        self.trending = TrendingCache(stores.counters)
        self.operations = stores.operations
        pushes = Stores(client or retrying_client(settings, single=True), settings)
        self.push_events = GroupCall(partial(push_all, pushes.inbox))
        self.lists_to_keep = WriteBehind(
            Stores(client or retrying_client(settings), settings).recommendations.keep_many)
        lists = Stores(client or retrying_client(settings), settings).recommendations
        self.look_up_recommendations = GroupCall(
            lambda lookups: lists.lookup_many(lookups, keeping=self.lists_to_keep.take()))

    def warm(self) -> None:
        """Load what a process's first list would wait for: the catalogue (1.3 s at 62,000
        movies) and the active version. A worker calls it before it serves; with Redis away,
        the first requests load them."""
        try:
            self.catalogue_cache.movies_many(())
            self.models.get()
        except StoreError as exc:
            log.warning("nothing loaded before serving (the first requests will): %s", exc)


def push_all(inbox: Inbox, requests: list) -> list[list[int]]:
    """Every request's events in one round trip. The first request is told the lanes to
    enqueue a drain job for, the others none: one job per lane and call at most."""
    claimed = inbox.push([event for events in requests for event in events])
    return [claimed] + [[] for _ in requests[1:]]


def create_app(settings: config.Settings | None = None, redis_client=None) -> Flask:
    settings = settings or config.load()
    single_threaded_blas()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json = FastJSONProvider(app)  # keys in insertion order, like sort_keys = False
    app.extensions["movierec"] = Services(settings, redis_client)

    from api import events, guests, health, metrics, models, movies, openapi, request_id, users
    from api.access_log import AccessLog
    from api.hooks import RequestHooks
    from api.limits import RateLimits
    from api.params import InvalidParameter, invalid_parameter

    for module in (health, events, users, guests, movies, models, openapi, metrics):
        app.register_blueprint(module.bp)
    for handler in logging.getLogger().handlers:  # (added here, after gunicorn's fork: see
        handler.addFilter(request_id.LOG_FILTER)  # movierec.commands.connect for why)
    svc = app.extensions["movierec"]
    lines = None
    if settings.access_log and settings.log_level in ("DEBUG", "INFO"):
        lines = app.extensions["access_log"] = AccessLog(settings.log_format)
    hooks = RequestHooks(svc.keyring, RateLimits(svc), lines)
    app.before_request(hooks.before)
    app.after_request(hooks.after)
    app.register_error_handler(InvalidParameter, invalid_parameter)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code

    @app.errorhandler(StoreFull)
    def redis_full(exc: StoreFull):
        log.error("request %s: redis refuses writes: %s", request_id.current(), exc)
        return jsonify(error="storage_full", message="the data store is full and refuses writes "
                       "(a request refused part-way may have had some events stored: its retry "
                       "applies each once); an operator must free or add memory"), 507

    def redis_down(exc: Exception):
        log.error("request %s: redis error: %s", request_id.current(), exc)
        response = jsonify(error="unavailable",
                           message="the data store is not reachable; retry later")
        response.headers["Retry-After"] = "1"
        return response, 503

    for store_error in StoreError:
        app.register_error_handler(store_error, redis_down)

    @app.errorhandler(ModelLoadError)
    def version_gone(exc: ModelLoadError):  # a deferred estimator of a version discarded since
        log.error("request %s: %s", request_id.current(), exc)
        response = jsonify(error="unavailable", message="the model version being served was "
                           "replaced while this request read it; retry")
        response.headers["Retry-After"] = "1"
        return response, 503

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("request %s: unhandled error", request_id.current())
        return jsonify(error="internal_error", message="an unexpected error occurred",
                       request_id=request_id.current()), 500

    return app
