"""Every key a script is given hashes to one Redis Cluster slot: the scripts stay legal on a
cluster (no CROSSSLOT), whatever user, version or cluster their keys name."""
import inspect

from redis.crc import key_slot

from shared.store.keys import Keys
from shared.store.ratings import RATINGS_SCRIPT_KEYS, user_state_call


def every_key(keys: Keys) -> dict[str, str]:
    """Each key name Keys makes, by method, with sample ids for the methods that take some."""
    names = {}
    for name, member in inspect.getmembers(type(keys)):
        if name.startswith("_") or name in ("script_templates", "version_pattern"):
            continue
        if isinstance(member, property):
            names[name] = getattr(keys, name)
        elif inspect.isfunction(member):
            params = list(inspect.signature(member).parameters)[1:]
            names[name] = member(keys, *["20261206T000000000Z" if p == "version" else 7_000_001
                                         for p in params])
    return names


def test_every_key_name_and_template_is_in_the_prefix_slot():
    keys = Keys("movierec")
    slot = key_slot(b"{movierec}")
    names = every_key(keys)
    assert len(names) > 40 and "user" in names and "cluster_counts" in names
    assert {name for name, key in names.items() if key_slot(key.encode()) != slot} == set()
    for name, template in keys.script_templates().items():
        filled = template.replace("%s", "12345")
        assert key_slot(filled.encode()) == slot, name


def test_the_keys_each_script_is_given_share_a_slot():
    keys = Keys("other-prefix")
    ratings = [getattr(keys, name) for name in RATINGS_SCRIPT_KEYS]
    state, _ = user_state_call(keys, 42, "v|personal|10", "20261206T000000000Z")
    assert len({key_slot(key.encode()) for key in ratings + state}) == 1
