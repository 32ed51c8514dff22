"""The factory of the stores (shared/store/stores.py) on fakeredis: each store once, on the
given client, configured by the settings."""
from pathlib import Path

from rq import Queue

from shared.config import Settings
from shared.store.cache import RecommendationCache
from shared.store.catalogue import Catalogue
from shared.store.counters import CounterStore
from shared.store.inbox import Inbox
from shared.store.keys import Keys
from shared.store.models import ModelStore
from shared.store.operations import Operations
from shared.store.ratings import RatingStore
from shared.store.schedule import RetrainClaims
from shared.store.stores import Stores
from shared.store.trainer_lock import TrainerLock
from tests.conftest import stores_on

KEYS = Keys("p")
SETTINGS = Settings(key_prefix="p", queue_name="q", model_dir=Path("/models/here"),
                    trainer_lock_seconds=7)

KINDS = {"ratings": RatingStore, "inbox": Inbox, "catalogue": Catalogue, "counters": CounterStore,
         "models": ModelStore, "recommendations": RecommendationCache, "operations": Operations,
         "retrain_claims": RetrainClaims}


def test_each_store_is_made_once_on_the_client_under_the_settings_prefix(fake_redis):
    stores = Stores(fake_redis, SETTINGS)
    assert stores.redis is fake_redis and stores.settings is SETTINGS
    assert stores.keys.prefix == "p" and stores.keys.base == KEYS.base
    assert stores.keys.partitions == SETTINGS.partitions == KEYS.partitions  # a new store
    assert stores.keys.users(3) == KEYS.users(3) and stores.keys.user(7) == KEYS.user(7)
    for name, kind in KINDS.items():
        store = getattr(stores, name)
        assert type(store) is kind, name
        assert getattr(stores, name) is store, name
        assert store.redis is fake_redis and store.keys is stores.keys, name


def test_the_queues_are_the_settings_on_the_client(fake_redis):
    stores = Stores(fake_redis, SETTINGS)
    for queue, name in ((stores.events_queue, "q"), (stores.retrain_queue, "q-retrain")):
        assert isinstance(queue, Queue) and queue.name == name
        assert queue.connection is fake_redis
    assert stores.events_queue is stores.events_queue
    assert stores.retrain_queue is stores.retrain_queue


def test_models_are_kept_in_the_settings_folder(fake_redis):
    assert Stores(fake_redis, SETTINGS).models.model_dir == Path("/models/here")
    assert stores_on(fake_redis, "p").models.model_dir is None  # the tests': Redis only


def test_each_trainer_lock_is_a_new_handle_with_the_settings_expiry(fake_redis):
    stores = Stores(fake_redis, SETTINGS)
    lock = stores.trainer_lock()
    assert isinstance(lock, TrainerLock) and lock.ttl == 7 and lock.keys is stores.keys
    assert stores.trainer_lock() is not lock
    assert lock.acquire("test")
    assert fake_redis.exists(KEYS.trainer_lock)  # on the given client, under the prefix
    assert not stores.trainer_lock().acquire("another")
    lock.release()


def test_stores_on_names_the_queues_after_the_prefix(fake_redis):
    stores = stores_on(fake_redis, "p")
    assert stores.keys.prefix == "p" and stores.settings.queue_name == "p"
    assert stores.events_queue.name == "p" and stores.redis is fake_redis
