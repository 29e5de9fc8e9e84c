"""The script files follow the conventions every Redis topology relies on."""

import re

import pytest

from spinach_lua import SCHEMA_VERSION, SCRIPTS, ScriptError
from spinach_lua.manifest import load_scripts

SCRIPT_NAMES = sorted(SCRIPTS)


def test_the_package_ships_the_state_machine_scripts() -> None:
    assert {"enqueue", "fetch", "finish", "release", "queue_stats"} <= set(SCRIPTS)
    assert SCHEMA_VERSION.isdigit()


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_the_header_documents_exactly_the_keys_the_file_name_announces(name: str) -> None:
    script = SCRIPTS[name]
    documented = re.findall(r"^KEYS\[(\d+)\]", script.source, re.MULTILINE)
    assert [int(n) for n in documented] == list(range(1, script.num_keys + 1))


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_a_script_only_touches_keys_it_received(name: str) -> None:
    script = SCRIPTS[name]
    body = script.source.split("]]", 1)[1]
    used = {int(n) for n in re.findall(r"KEYS\[(\d+)\]", body)}
    assert used <= set(range(1, script.num_keys + 1))
    # Every redis.call names its key with a value that came from KEYS (KEYS[...], or a variable
    # or table field holding one): never a string built in Lua, which would break on Cluster.
    for command, key in re.findall(r"redis\.call\('(\w+)',\s*([^,)]+)", script.source):
        if command == "TIME":
            continue
        assert ".." not in key and "'" not in key and '"' not in key, (command, key)
        assert re.fullmatch(r"KEYS\[[^\]]+\]|[a-z_]+(\.[a-z_]+)*(\[[a-z_]+\])?", key), (
            command,
            key,
        )


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_includes_are_flattened_and_the_sha_is_stable(name: str) -> None:
    script = SCRIPTS[name]
    assert "--- @include" not in script.source
    assert load_scripts()[name].sha1 == script.sha1


def test_return_codes_are_one_enum() -> None:
    assert int(ScriptError.OK) == 0 and int(ScriptError.SCHEMA_MISMATCH) < 0
