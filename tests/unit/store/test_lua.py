"""The Lua scripts build no key name: every name comes from Keys, as KEYS or as a template."""
import hashlib
import json
import re
from importlib import resources

import pytest
import redis

from shared.data.events import Event
from shared.store.cache import ComputedList, Lookup
from shared.store.counters import trending_buckets
from shared.store.deltas import MERGE_SCRIPT_KEYS
from shared.store.keys import Keys
from shared.store.rate_limits import RequestCounters
from shared.store.ratings import RATINGS_SCRIPT_KEYS
from tests.conftest import stores_on

KEYS = Keys("t")
LUA = resources.files("shared.store").joinpath("lua")
SCRIPTS = sorted(f.name for f in LUA.iterdir() if f.name.endswith(".lua"))

TOKEN = re.compile(r"--\[(=*)\[.*?\]\1\]|--[^\n]*|\[(=*)\[(.*?)\]\2\]|'((?:\\.|[^'\\\n])*)'"
                   r'|"((?:\\.|[^"\\\n])*)"', re.S)


def string_literals(source: str) -> list[str]:
    """The string literals of a Lua source (comments skipped)."""
    out = []
    for match in TOKEN.finditer(source):
        if match.group(0).startswith("--"):
            continue
        out.append(next(g for g in match.group(3, 4, 5) if g is not None))
    return out


def unpacked_keys(source: str) -> list[str]:
    """The names of the locals a script unpacks KEYS into."""
    found = re.findall(r"^local ([\w,\s]+?)\s*=\s*unpack\(KEYS\)", source, re.M)
    assert len(found) == 1, "a script unpacks KEYS into named locals once, at its start"
    return [name.strip() for name in found[0].split(",")]


def test_the_literal_finder_sees_every_kind_of_string():
    source = """-- 'a:comment'
    --[[ "block:comment" ]]
    local a, b, c = 'x:1', "y{2}", [==[z:3]==]
    local d = 'it\\'s'"""
    assert string_literals(source) == ["x:1", "y{2}", "z:3", "it\\'s"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_script_spells_a_key_name(script):
    literals = string_literals(LUA.joinpath(script).read_text())
    assert literals, "the finder found no literal at all: it no longer reads this script"
    assert [s for s in literals if ":" in s or "{" in s] == []


def key_names(keys: Keys) -> dict[str, str]:
    """Key name -> the Keys method or property that gives it, for the keys the calls below
    touch: the global ones, every partition's, and those of user 1 and version v1 (and its
    cluster 0)."""
    names = {getattr(keys, name): name for name in dir(keys)
             if not name.startswith("_") and isinstance(getattr(keys, name), str)}
    for name in ("users", "user_counts", "deleted_users", "inbox", "dead_letters",
                 "user_revisions", "user_revision_sequence", "applied_events",
                 "counted_versions", "deltas", "delta_sequence", "events_applied",
                 "merged_deltas", "movie_counts", "movie_sums", "popular", "movies"):
        for partition in range(keys.partitions):
            names[getattr(keys, name)(partition)] = name
    for partition in range(keys.partitions):
        names[keys.assignments("v1", partition)] = "assignments"
        names[keys.cluster_sizes("v1", partition)] = "cluster_sizes"
        for bucket in ("sum", *trending_buckets("24h", TRENDING_NOW)):
            names[keys.trending(partition, bucket)] = "trending"
    for name in ("recommendations_cache", "user", "user_live", "user_log"):
        names[getattr(keys, name)(1)] = name
    names[keys.inbox_draining(0)] = "inbox_draining"
    for limit in ("5/1s", "9/60s"):
        names[keys.rate_limit_counter("key:k", limit, 0)] = "rate_limit_counter"
    return names


def keys_passed(run, monkeypatch) -> dict[str, list[str]]:
    """Script file -> the Keys names of the KEYS ``run`` passed to it (at its last call)."""
    by_sha = {hashlib.sha1(LUA.joinpath(s).read_text().encode()).hexdigest(): s for s in SCRIPTS}
    names = key_names(KEYS)
    seen = {}

    def note(command):
        if command[0] == "EVALSHA":
            sha, numkeys, *args = command[1:]
            seen[by_sha[sha]] = [names.get(_text(k), _text(k)) for k in args[:int(numkeys)]]

    connection = redis.connection.Connection  # (fakeredis's too)
    send_command, pack_commands = connection.send_command, connection.pack_commands

    def spy_one(self, *command, **options):
        note(command)
        return send_command(self, *command, **options)

    def spy_many(self, commands):
        for command in commands:
            note(command)
        return pack_commands(self, commands)

    monkeypatch.setattr(connection, "send_command", spy_one)
    monkeypatch.setattr(connection, "pack_commands", spy_many)
    run()
    return seen



def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# Scripts that take a list of like keys, of any length, rather than named ones.
KEY_LISTS = {"rate_limits.lua": "rate_limit_counter", "trending.lua": "trending"}
TRENDING_NOW = 100 * 3600.0


def test_each_script_unpacks_its_keys_in_the_order_the_store_passes_them(fake_redis,
                                                                         monkeypatch):
    stores = stores_on(fake_redis, "t")
    assert stores.keys.partitions == KEYS.partitions
    inbox, cache = stores.inbox, stores.recommendations

    def every_call():
        assert inbox.push([Event("rating", 1, 10, 8, 100.0)]) == [0]
        cache.lookup_many([Lookup(1, "v1", "field")])
        cache.keep_many([ComputedList(1, b"0", "field", b"body", 60)])[0]
        partition = KEYS.partition_of(1)
        assert inbox.drain({partition: 100})[partition].applied == 1  # ratings.lua, merge.lua
        lock = stores.trainer_lock()
        lock.acquire()
        lock.release()
        stores.operations.beat("w1")
        stores.counters.trending("24h", TRENDING_NOW, 5)
        RequestCounters(fake_redis, KEYS).add(
            {KEYS.rate_limit_counter("key:k", "5/1s", 0): (1, 1),
             KEYS.rate_limit_counter("key:k", "9/60s", 0): (1, 60)})

    passed = keys_passed(every_call, monkeypatch)
    assert set(passed) == set(SCRIPTS)
    for script, names in passed.items():
        if script in KEY_LISTS:
            assert set(names) == {KEY_LISTS[script]}, script
            assert "unpack(KEYS)" not in LUA.joinpath(script).read_text()
        else:
            assert unpacked_keys(LUA.joinpath(script).read_text()) == names, script


def test_the_store_passes_the_keys_its_key_lists_name():
    assert unpacked_keys(LUA.joinpath("ratings.lua").read_text()) == list(RATINGS_SCRIPT_KEYS)
    assert unpacked_keys(LUA.joinpath("merge.lua").read_text()) == list(MERGE_SCRIPT_KEYS)
    assert "push.lua" not in SCRIPTS


def test_the_templates_the_scripts_use_are_those_keys_gives(fake_redis):
    templates = set(KEYS.partition_templates(0))
    source = LUA.joinpath("ratings.lua").read_text()
    assert "cjson.decode(ARGV[2])" in source
    in_ratings = set(re.findall(r"\btemplates\.(\w+)", source))
    # and the number of partitions, for its partition_of
    assert in_ratings - templates == {"partitions"}
    source = LUA.joinpath("merge.lua").read_text()
    assert "cjson.decode(ARGV[1])" in source
    in_merge = set(re.findall(r"\btemplates\.(\w+)", source))
    assert in_merge <= templates
    assert (in_ratings | in_merge) - {"partitions"} == templates  # none unused
    # which the store gives them: each partition's own, the number of partitions beside
    stores = stores_on(fake_redis, "t", partitions=4)
    ratings, deltas, keys = stores.ratings._run, stores.ratings.deltas, stores.keys
    for partition in range(keys.partitions):
        assert json.loads(ratings._templates[partition]) == {
            **keys.partition_templates(partition), "partitions": 4}
        assert json.loads(deltas._templates[partition]) == keys.partition_templates(partition)
