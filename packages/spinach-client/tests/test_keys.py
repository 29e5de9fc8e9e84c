"""Key names: one hash tag per queue so every script call stays on one cluster slot."""

import re
from dataclasses import astuple

import pytest

from spinach.exc import InvalidNameError
from spinach.keys import namespace_patterns, queue_keys, validate_namespace


def _tag(key: str) -> str:
    match = re.search(r"\{([^}]*)\}", key)
    assert match
    return match.group(1)


def test_every_key_of_a_queue_shares_one_hash_tag() -> None:
    keys = queue_keys("shop", "emails")
    names = [*astuple(keys)[:-1], keys.enqueue_token("t"), keys.worker_wake("w")]
    assert {_tag(k) for k in names} == {"shop/emails"}


def test_different_queues_and_namespaces_get_different_tags() -> None:
    assert _tag(queue_keys("shop", "a").ready) != _tag(queue_keys("shop", "b").ready)
    assert queue_keys("shop", "a").ready != queue_keys("shopping", "a").ready


@pytest.mark.parametrize("namespace", ["", "a/b", "{x}", "a b"])
def test_namespaces_that_would_break_key_names_are_refused(namespace: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_namespace(namespace)


def test_namespace_patterns_match_only_that_namespace() -> None:
    import fnmatch

    patterns = namespace_patterns("shop")
    own = [queue_keys("shop", "q").ready, "spinach:{shop}:meta"]
    other = [queue_keys("shopping", "q").ready, "spinach:{shopping}:meta"]
    assert all(any(fnmatch.fnmatchcase(k, p) for p in patterns) for k in own)
    assert not any(fnmatch.fnmatchcase(k, p) for p in patterns for k in other)


def test_the_acl_rules_allow_every_command_the_scripts_call() -> None:
    from spinach.acl import SCRIPT_COMMANDS
    from spinach_lua import SCRIPTS

    called = {
        command.lower()
        for script in SCRIPTS.values()
        for command in re.findall(r"redis\.call\('(\w+)'", script.source)
    }
    assert called - set(SCRIPT_COMMANDS) == set()
