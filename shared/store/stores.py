"""Every store of one Redis client, built from the settings in one place: the API, the workers,
the trainer and the command line all get their stores here."""
from __future__ import annotations

from functools import cached_property

import redis
from rq import Queue

from shared.config import Settings
from shared.store.cache import RecommendationCache
from shared.store.catalogue import Catalogue
from shared.store.client import client_for, queue_client_for
from shared.store.counters import CounterStore
from shared.store.inbox import Inbox
from shared.store.layout import store_keys
from shared.store.models import ModelStore
from shared.store.operations import Operations
from shared.store.queue import events_queue, retrain_queue
from shared.store.ratings import RatingStore
from shared.store.schedule import RetrainClaims
from shared.store.trainer_lock import TrainerLock


class Stores:
    """The stores on ``client`` under the settings' key prefix, each made on first use: a
    process makes only those it uses."""

    def __init__(self, client: redis.Redis, settings: Settings,
                 queue_client: redis.Redis | None = None):
        """``queue_client``: the Redis of the RQ queues; by default ``client``, or a new client
        of MOVIEREC_QUEUE_URL when the data is on a cluster (RQ needs a plain Redis)."""
        self.redis = client
        self.settings = settings
        self.keys = store_keys(client, settings.key_prefix, settings.partitions)
        if queue_client is None:
            queue_client = client if settings.cluster is None else queue_client_for(settings)
        self.queue_redis = queue_client

    @classmethod
    def connect(cls, settings: Settings) -> Stores:
        """The stores on a new client of the configured Redis."""
        return cls(client_for(settings), settings)

    @classmethod
    def for_job(cls, settings: Settings, connection: redis.Redis | None) -> Stores:
        """The stores of an RQ job that came on ``connection`` (the queues' Redis; None outside
        a job): the data is there too, unless it is on a cluster."""
        if connection is None:
            return cls.connect(settings)
        if settings.cluster is not None:
            return cls(client_for(settings), settings, connection)
        return cls(connection, settings)

    @cached_property
    def ratings(self) -> RatingStore:
        return RatingStore(self.redis, self.keys)

    @cached_property
    def inbox(self) -> Inbox:
        return Inbox(self.redis, self.keys, self.settings.drain_lanes,
                     self.settings.write_replicas, self.settings.write_replica_timeout_ms)

    @cached_property
    def catalogue(self) -> Catalogue:
        return Catalogue(self.redis, self.keys)

    @cached_property
    def counters(self) -> CounterStore:
        return CounterStore(self.redis, self.keys)

    @cached_property
    def models(self) -> ModelStore:
        return ModelStore(self.redis, self.keys, self.settings.model_dir)

    @cached_property
    def recommendations(self) -> RecommendationCache:
        return RecommendationCache(self.redis, self.keys)

    @cached_property
    def operations(self) -> Operations:
        return Operations(self.redis, self.keys)

    @cached_property
    def retrain_claims(self) -> RetrainClaims:
        return RetrainClaims(self.redis, self.keys)

    @cached_property
    def events_queue(self) -> Queue:
        return events_queue(self.queue_redis, self.settings)

    @cached_property
    def retrain_queue(self) -> Queue:
        return retrain_queue(self.queue_redis, self.settings)

    def trainer_lock(self) -> TrainerLock:
        """A new handle on the trainer lock, with the configured expiry (each holds its own
        token, so each retrain takes one)."""
        return TrainerLock(self.redis, self.keys, self.settings.trainer_lock_seconds)
