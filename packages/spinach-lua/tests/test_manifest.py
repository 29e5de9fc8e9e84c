"""The script files follow the conventions every Redis topology relies on, and their headers
are a contract the bodies keep: names, never positions."""

import pickle
import re
from importlib.resources import files

import pytest

from spinach_lua import SCHEMA_VERSION, SCRIPTS, ScriptError
from spinach_lua.flatten import check_names
from spinach_lua.manifest import (
    ContractError,
    LuaScript,
    build_script,
    check_include,
    load_scripts,
)

SCRIPT_NAMES = sorted(SCRIPTS)


def _body(script: LuaScript) -> str:
    """The script's own code: after its header and the generated prologue."""
    return script.source.split("\nend\n", 1)[1]


def _balanced(text: str, start: int) -> str:
    """The text of the brace-delimited table constructor opening at `start`."""
    depth = 0
    for n in range(start, len(text)):
        if text[n] == "{":
            depth += 1
        elif text[n] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : n]
    raise AssertionError("unbalanced braces")


def test_the_package_ships_the_state_machine_scripts() -> None:
    assert {"enqueue", "fetch", "finish", "release", "queue_stats"} <= set(SCRIPTS)
    assert SCHEMA_VERSION.isdigit()


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_a_body_names_only_keys_and_arguments_its_header_declares(name: str) -> None:
    script = SCRIPTS[name]
    body = _body(script)
    keys = {entry.name for entry in script.keys}
    args = {entry.name for entry in script.argv}
    args |= {f"{entry.name}_n" for entry in script.variadic_args}
    assert set(re.findall(r"\bKEY\.(\w+)", body)) <= keys
    assert set(re.findall(r"\bARG\.(\w+)", body)) <= args


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_declared_key_and_argument_is_used(name: str) -> None:
    script = SCRIPTS[name]
    body = _body(script)
    used = set(re.findall(r"\b(?:KEY|ARG)\.(\w+)", body))
    declared = {entry.name for entry in (*script.keys, *script.argv)}
    assert declared - used == set()


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_no_body_reads_keys_arguments_or_replies_by_position(name: str) -> None:
    body = _body(SCRIPTS[name])
    assert not re.search(r"\bKEYS\[", body), "keys are read as KEY.<name>"
    assert not re.search(r"\bARGV\[\d", body), "fixed arguments are read as ARG.<name>"
    assert not re.search(r"return \{0,", body), "replies are built by reply{...}"


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_reply_names_exactly_the_fields_the_header_declares(name: str) -> None:
    script = SCRIPTS[name]
    body = _body(script)
    declared = set(script.reply_fields)
    starts = [m.end() - 1 for m in re.finditer(r"\breply\{", body)]
    for start in starts:
        fields = set(re.findall(r"(?:^|,)\s*(\w+)\s*=", _balanced(body, start)))
        assert fields == declared, fields ^ declared
    # A reply built in a table first (reply(result)) is checked when it runs: the generated
    # reply() refuses a missing or unknown field.
    assert starts or "reply(" in body


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_a_script_touches_only_its_keys_and_the_records_of_its_queue(name: str) -> None:
    # Every redis.call names its key with a declared key, a variable holding one, or a job's
    # stored result (named after the queue's declared `results` key, so it shares the queue's
    # hash tag): never a string literal, which could land on another Redis Cluster slot.
    for command, key in re.findall(r"redis\.call\('(\w+)',\s*([^,)]+)", SCRIPTS[name].source):
        if command == "TIME":
            continue
        assert "'" not in key and '"' not in key, (command, key)
        allowed = (
            r"KEY\.\w+|[a-z_]+(\.[a-z_]+)*(\[[a-z_]+\])?"  # a declared key, or a variable
            r"|result_key\(.+|unpack\([a-z_]+"  # a stored result (see the result include)
        )
        assert re.fullmatch(allowed, key.strip()), (command, key)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_includes_are_flattened_and_the_sha_is_stable(name: str) -> None:
    script = SCRIPTS[name]
    assert "--- @include" not in script.source
    assert load_scripts()[name].sha1 == script.sha1


def test_return_codes_are_one_enum() -> None:
    assert int(ScriptError.OK) == 0 and int(ScriptError.SCHEMA_MISMATCH) < 0


HEADER = """--[[
A test script.

KEYS
  schema      STRING  a key
  ready       LIST    a list
  parked*     LIST    variadic keys

ARGV
  limit       a number
  tasks*      names
  jobs*3      groups

REPLY
  count       a number
]]
"""


def test_the_prologue_names_keys_arguments_and_variadic_sections() -> None:
    script = build_script("demo", HEADER + "return reply{count = 1}\n", {})
    assert script.fixed_keys == ("schema", "ready")
    assert script.variadic_key == "parked"
    assert script.fixed_args == ("limit",)
    assert [(e.name, e.group) for e in script.variadic_args] == [("tasks", 1), ("jobs", 3)]
    assert "local KEY = {schema = KEYS[1], ready = KEYS[2]}" in script.source
    assert "KEY.parked = {unpack(KEYS, 3)}" in script.source
    assert "ARG.tasks_n = tonumber(ARGV[2])" in script.source


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (HEADER.replace("STRING  a key", "THING a key"), "must name its type"),
        (
            HEADER.replace(
                "  parked*     LIST    variadic keys\n", "  parked*  LIST  x\n  z  SET  y\n"
            ),
            "only the last key",
        ),
        (HEADER.replace("  limit       a number\n", "") + "", None),
        (HEADER.replace("REPLY\n", ""), "lacks a REPLY"),
        (HEADER.replace("  jobs*3      groups\n", "  jobs*3      groups\n  late  oops\n"), "after"),
    ],
)
def test_a_header_that_cannot_be_a_contract_is_refused(header: str, problem: str | None) -> None:
    if problem is None:
        build_script("ok", header + "return reply{count = 1}\n", {})
        return
    with pytest.raises(ContractError, match=problem):
        build_script("bad", header, {})


def test_fields_read_by_number_are_the_fields_their_readers_name() -> None:
    # The hot path reads some record fields by their number (field_of): the numbers must
    # follow RECORD_FIELDS when a field is added.
    include = (files("spinach_lua") / "scripts" / "includes" / "record.lua").read_text()
    declared = re.search(r"local RECORD_FIELDS = \{([^}]*)\}", include)
    assert declared is not None
    fields = re.findall(r"'(\w+)'", declared.group(1))
    readers = {"task_of": "t", "priority_of": "p", "exits_of": "wo"}
    for reader, field in readers.items():
        body = re.search(rf"local function {reader}\(raw\)\n(.*?)\nend", include, re.S)
        assert body is not None, reader
        (number,) = re.findall(r"field_of\(raw, (\d+)\)", body.group(1))
        assert fields[int(number) - 1] == field, (reader, number)


INCLUDE = """-- Helpers.
local LIMIT = 10

-- Used by the script.
local function used(x)
  return helper(x) + LIMIT
end

-- Used by `used` only.
local function helper(x)
  return x
end

-- Used by nobody.
local function unused(x)
  return x
end
"""


def test_a_script_carries_only_the_include_functions_it_calls() -> None:
    script = build_script(
        "demo",
        HEADER + '--- @include "helpers"\nreturn reply{count = used(1)}\n',
        {"helpers": INCLUDE},
    )
    assert "local function used(" in script.source
    assert "local function helper(" in script.source  # called by a kept function
    assert "local LIMIT = 10" in script.source  # statements other than functions stay
    assert "unused" not in script.source  # the function and its comment


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_function_a_script_calls_is_defined_in_it(name: str) -> None:
    source = SCRIPTS[name].source
    defined = set(re.findall(r"local function ([A-Za-z_]\w*)\(", source))
    included = set()
    for entry in files("spinach_lua").joinpath("scripts", "includes").iterdir():
        included |= set(re.findall(r"local function ([A-Za-z_]\w*)\(", entry.read_text()))
    called = {
        called
        for called in re.findall(r"\b([A-Za-z_]\w*)\(", re.sub(r"--[^\n]*", "", source))
        if called in included
    }
    assert called <= defined


@pytest.mark.parametrize(
    "text",
    [
        "local function one() return 1 end\n",  # its end is not alone at the start of a line
        "local function a()\n  local function b()\n    return 1\nend\n  return b()\nend\n",
        "function global()\nend\n",
    ],
)
def test_an_include_whose_functions_cannot_be_delimited_is_refused(text: str) -> None:
    with pytest.raises(ContractError, match="include odd: every top-level function"):
        check_include("odd", text)


def test_an_include_statement_that_names_a_function_keeps_it() -> None:
    include = "local function handler(x)\n  return x\nend\n\nlocal HANDLERS = {handler}\n"
    script = build_script(
        "demo", HEADER + '--- @include "h"\nreturn reply{count = #HANDLERS}\n', {"h": include}
    )
    assert "local function handler(" in script.source


def test_scripts_are_flattened_on_first_use_and_alike_in_any_order() -> None:
    fresh = load_scripts()
    assert all("source" not in script.__dict__ for script in fresh.values())  # import is cheap
    # Flattened after every other script, or alone: the same text, so every process of one
    # installation computes the same SHA whatever it ran first.
    for name in reversed(SCRIPT_NAMES):
        assert fresh[name].source
    alone = load_scripts()
    for name in SCRIPT_NAMES:
        assert alone[name].source == fresh[name].source == SCRIPTS[name].source


def test_a_script_naming_an_unknown_include_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown include 'nowhere'"):
        build_script("demo", HEADER + '--- @include "nowhere"\nreturn reply{count = 1}\n', {})


def test_two_includes_defining_one_function_are_refused() -> None:
    with pytest.raises(ContractError, match=r"includes a and b both define twice\(\)"):
        check_names({"a": "local function twice(x)\nend\n", "b": "local function twice(y)\nend\n"})
    check_names({"a": "local function one()\nend\n", "b": "local function two()\nend\n"})


def test_a_script_keeps_its_own_functions_and_an_include_without_a_last_newline() -> None:
    script = build_script(
        "demo",
        HEADER
        + '--- @include "h"\nlocal function mine()\n  return 1\nend\nreturn reply{count = 1}\n',
        {"h": "local function unused(x)\n  return x\nend"},  # no newline after its `end`
    )
    assert "local function mine(" in script.source
    assert "local function unused(" in script.source  # not delimited: kept, never cut short


def test_a_script_survives_pickling_and_compares_by_its_text() -> None:
    script = SCRIPTS["fetch"]
    copy = pickle.loads(pickle.dumps(script))
    assert copy == script and copy.source == script.source and copy.sha1 == script.sha1
    other = build_script("demo", HEADER + "return reply{count = 1}\n", {})
    changed = build_script("demo", HEADER + "return reply{count = 2}\n", {})
    assert other != changed and len({other, changed}) == 2


def test_asking_whether_a_script_exists_does_not_build_it() -> None:
    fresh = load_scripts()
    assert "fetch" in fresh and "nowhere" not in fresh
    assert fresh._built == {}  # type: ignore[attr-defined]
