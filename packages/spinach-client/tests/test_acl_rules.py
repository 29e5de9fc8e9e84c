"""The ACL rules allow every command the scripts call: a missing one fails only under an ACL."""

import re

from spinach.acl import SCRIPT_COMMANDS, acl_rules
from spinach_lua import SCRIPTS

#: Commands named in the scripts: redis.call('X', ...), call_sliced('X', ...), and the
#: commands a script picks between ('LPUSH' or 'RPUSH').
_CALLED = re.compile(r"(?:redis\.call|call_sliced)\(\s*'([A-Z]+)'|and '([A-Z]+)' or '([A-Z]+)'")


def test_every_command_a_script_calls_is_allowed() -> None:
    called: set[str] = set()
    for script in SCRIPTS.values():
        for groups in _CALLED.findall(script.source):
            called.update(name.lower() for name in groups if name)
    assert {"hset", "lpush", "rpush", "zadd"} <= called  # the pattern finds calls at all
    assert called - set(SCRIPT_COMMANDS) == set()


def test_the_rules_name_each_allowed_command() -> None:
    rules = acl_rules("shop").split()
    assert "-@all" in rules
    assert {f"+{command}" for command in SCRIPT_COMMANDS} <= set(rules)
