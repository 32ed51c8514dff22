"""The store's layout mark (shared/store/layout.py): written once, read by every process, and a
store of another layout refused."""
import json

import pytest

from shared.config import load
from shared.store.keys import LAYOUT, Keys, LayoutOneKeys
from shared.store.layout import LayoutError, holds_layout_one, store_keys
from shared.store.stores import Stores
from tests.conftest import stores_on


def mark(client, prefix="t"):
    raw = client.get(Keys(prefix).layout)
    return None if raw is None else json.loads(raw)


def test_a_new_store_gets_the_mark_with_the_configured_partitions(fake_redis):
    assert mark(fake_redis) is None
    stores = stores_on(fake_redis, "t", partitions=4)
    assert mark(fake_redis) == {"layout": LAYOUT, "partitions": 4} and LAYOUT == 3
    assert stores.keys.partitions == 4 and stores.keys.prefix == "t"
    assert stores.ratings.keys is stores.keys and stores.inbox.keys is stores.keys
    assert fake_redis.keys() == [b"{t}:layout"]  # the mark is all a new store writes
    assert mark(fake_redis, "other") is None     # a mark per prefix
    assert stores_on(fake_redis, "other").keys.partitions == 16  # the default


def settings(tmp_path, **env):
    """The settings of a process whose environment holds ``env``."""
    return load({"REDIS_URL": "redis://127.0.0.1:1/0", "MOVIEREC_VAR_DIR": str(tmp_path),
                 "MOVIEREC_PREFIX": "t", **env})


def test_a_second_process_configured_otherwise_reads_the_stored_count(fake_redis, tmp_path):
    first = Stores(fake_redis, settings(tmp_path, MOVIEREC_PARTITIONS="8"))
    assert first.settings.partitions == 8 and first.keys.partitions == 8
    second = Stores(fake_redis, settings(tmp_path, MOVIEREC_PARTITIONS="32"))
    assert second.settings.partitions == 32
    assert second.keys.partitions == 8  # the store's, not the setting's
    assert mark(fake_redis) == {"layout": LAYOUT, "partitions": 8}
    first.ratings.apply_wire([["rating", "7", "10", 8, 100.0, ""]])
    assert second.ratings.user_ratings(7) == {10: (4.0, True, 100.0)}  # same keys
    assert Stores(fake_redis, settings(tmp_path)).keys.partitions == 8


@pytest.mark.parametrize("old_key", ["users", "inbox", "dead_letters"])
def test_a_store_of_the_first_layout_is_refused_until_migrated(fake_redis, old_key):
    old = LayoutOneKeys("movierec")
    assert old.users == "{movierec}:users" and old.inbox == "{movierec}:inbox"
    if old_key == "users":
        fake_redis.sadd(getattr(old, old_key), 7)
    else:
        fake_redis.rpush(getattr(old, old_key), "item")
    assert holds_layout_one(fake_redis, "movierec")
    with pytest.raises(LayoutError, match="`movierec migrate`"):
        stores_on(fake_redis, "movierec")
    with pytest.raises(LayoutError, match="earlier release"):
        store_keys(fake_redis, "movierec", 16)
    assert mark(fake_redis, "movierec") is None  # nothing written: the migration writes it
    assert stores_on(fake_redis, "t").keys.partitions == 16  # another prefix is another store


def test_a_store_with_only_global_keys_of_the_first_layout_is_no_old_store(fake_redis):
    # (the global keys that kept their names: a store holding only those is taken as new)
    keys = Keys("movierec")
    fake_redis.incr(keys.catalogue_revision)
    fake_redis.hset(keys.meta, "imported_at", "0")
    assert not holds_layout_one(fake_redis, "movierec")
    assert store_keys(fake_redis, "movierec", 4).partitions == 4


@pytest.mark.parametrize("layout", [LAYOUT + 1, None, "3"])
def test_a_store_of_a_layout_this_release_does_not_know_is_refused(fake_redis, layout):
    fake_redis.set(Keys("t").layout, json.dumps({"layout": layout, "partitions": 16}))
    with pytest.raises(LayoutError, match=f"layout {layout!r}.*use the release that wrote it"):
        stores_on(fake_redis, "t")
    assert mark(fake_redis) == {"layout": layout, "partitions": 16}  # left alone


def test_a_store_of_the_second_layout_is_refused_until_migrated(fake_redis):
    # the users' data partitioned, the catalogue and the counters over all users not yet
    fake_redis.set(Keys("movierec").layout, json.dumps({"layout": 2, "partitions": 16}))
    fake_redis.sadd(Keys("movierec").users(0), 7)
    with pytest.raises(LayoutError, match="layout 2.*`movierec migrate`"):
        stores_on(fake_redis, "movierec")
    with pytest.raises(LayoutError, match="earlier release"):
        store_keys(fake_redis, "movierec", 16)
    assert mark(fake_redis, "movierec") == {"layout": 2, "partitions": 16}  # left alone
    assert stores_on(fake_redis, "t").keys.partitions == 16  # another prefix is another store


def test_a_marked_store_is_read_whatever_keys_it_holds(fake_redis):
    store_keys(fake_redis, "movierec", 2)
    fake_redis.sadd(LayoutOneKeys("movierec").users, 7)  # (no release writes this any more)
    assert store_keys(fake_redis, "movierec", 16).partitions == 2
