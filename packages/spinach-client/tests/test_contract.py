"""Python calls scripts by name and reads their replies by field name, as the headers say."""

import pytest

from spinach.contract import REPLIES, call, parse
from spinach.keys import QueueKeys, queue_keys
from spinach_lua import SCRIPTS
from spinach_lua.manifest import ContractError


def test_every_script_has_a_reply_type_with_the_fields_its_header_names() -> None:
    assert set(REPLIES) == set(SCRIPTS)
    for name, reply_type in REPLIES.items():
        assert tuple(reply_type._fields) == SCRIPTS[name].reply_fields, name  # type: ignore[attr-defined]


def test_every_key_a_script_names_is_one_the_key_module_builds_or_one_given_per_call() -> None:
    per_call = {"token"}  # the enqueue token: one key per call (QueueKeys.enqueue_token)
    fields = set(QueueKeys.__dataclass_fields__) - {"_base"}
    for name, script in SCRIPTS.items():
        assert set(script.fixed_keys) - per_call <= fields, name


def test_a_call_orders_keys_and_arguments_as_the_header_says() -> None:
    keys = queue_keys("shop", "mail")
    name, ordered, args = call(
        "renew",
        keys,
        {"recover_limit": 100, "lease_ms": 5000},
        variadic_keys=[keys.parked("a")],
        variadic={"tasks": ["a"], "leases": ["id1", "tok1"]},
    )
    assert name == "renew"
    assert ordered == [
        keys.running, keys.ready, keys.ranked, keys.ranked_seq, keys.wake, keys.limits,
        keys.limited_running, keys.jobs, keys.parked("a"),
    ]  # fmt: skip
    # the fixed arguments; then each variadic, its count first but for the last
    assert args == [5000, 100, 1, "a", "id1", "tok1"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"lease_ms": 1}, r"missing \['recover_limit'\]"),
        ({"lease_ms": 1, "recover_limit": 1, "extra": 2}, r"unknown \['extra'\]"),
    ],
)
def test_a_call_that_does_not_fit_the_header_is_refused(args: dict[str, int], problem: str) -> None:
    with pytest.raises(ContractError, match=problem):
        call("renew", queue_keys("shop", "mail"), args)


def test_unknown_scripts_and_variadic_arguments_are_refused() -> None:
    keys = queue_keys("shop", "mail")
    with pytest.raises(ContractError, match="No script"):
        call("nope", keys)
    with pytest.raises(ContractError, match="unknown variadic"):
        call("release", keys, variadic={"jobs": []})
    with pytest.raises(ContractError, match="no variadic keys"):
        call("release", keys, variadic_keys=["x"])


def test_a_reply_of_the_wrong_length_is_refused() -> None:
    reply_type = REPLIES["release"]
    assert parse("release", reply_type, [0, 3]) == (3,)
    with pytest.raises(ContractError, match="replied 2 fields"):
        parse("release", reply_type, [0, 3, 4])
