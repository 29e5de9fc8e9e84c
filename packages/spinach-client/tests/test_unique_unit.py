"""The unique rule's checks and wire form, and keys derived from arguments (pure logic)."""

from datetime import timedelta

import pytest

from spinach.exc import InvalidJobSignatureError
from spinach.options import JobOptions
from spinach.unique import UniqueRule, checked_key, derived_key


def test_the_wire_form_says_when_the_key_goes_whether_to_debounce_and_how_long_it_stays() -> None:
    assert UniqueRule().wire == "f"
    assert UniqueRule(until="started").wire == "s"
    assert UniqueRule(debounce=True, hold_for=timedelta(seconds=1.5)).wire == "fd1500"
    assert UniqueRule(hold_for=timedelta(microseconds=1)).wire == "f1"  # rounded up to a ms


def test_a_rule_takes_seconds_or_a_timedelta_and_falls_back_on_its_default() -> None:
    task_rule = UniqueRule(until="started", debounce=True)
    assert UniqueRule.checked("t", hold_for=2, default=task_rule) == UniqueRule(
        "started", timedelta(seconds=2), True
    )
    assert UniqueRule.checked("t", debounce=False, default=task_rule).debounce is False
    with pytest.raises(ValueError, match="must not be negative"):
        UniqueRule.checked("t", hold_for=-1)
    with pytest.raises(ValueError, match="finite"):
        UniqueRule.checked("t", hold_for=float("inf"))
    with pytest.raises(TypeError, match="timedelta or seconds"):
        UniqueRule.checked("t", hold_for="1s")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="True or False"):
        UniqueRule.checked("t", debounce=1)  # type: ignore[arg-type]


def test_keys_are_checked_for_what_the_record_cannot_hold() -> None:
    assert checked_key("t", "tenant:42") == "tenant:42"
    for bad in ("", "a\0b", "a\nb", "k" * 257):
        with pytest.raises(ValueError):
            checked_key("t", bad)


def test_a_derived_key_ignores_the_order_of_keyword_arguments_only() -> None:
    key = derived_key("sync", (1,), {"a": 1, "b": [2]})
    assert key == derived_key("sync", (1,), {"b": [2], "a": 1})
    assert key.startswith("sync:")
    assert key != derived_key("sync", (2,), {"a": 1, "b": [2]})
    assert key != derived_key("other", (1,), {"a": 1, "b": [2]})
    with pytest.raises(InvalidJobSignatureError, match="unique key"):
        derived_key("sync", (object(),), {})


def test_job_options_fall_back_on_the_task_and_refuse_a_rule_without_a_key() -> None:
    rule = UniqueRule()
    assert JobOptions().unique("t", None, rule) == ("", "")
    assert JobOptions().unique("t", "t:abc", rule) == ("t:abc", "f")
    assert JobOptions(unique_key="mine").unique("t", "t:abc", rule) == ("mine", "f")
    assert JobOptions(unique_key="k", unique_for=1).unique("t", None, rule) == ("k", "f1000")
    with pytest.raises(ValueError, match="need a unique key"):
        JobOptions(debounce=True).unique("t", None, rule)
    assert JobOptions(max_retries=2).retries("t", 0, limited=False) == 2
    with pytest.raises(ValueError, match="at least 1"):
        JobOptions(max_retries=0).retries("t", 3, limited=True)
    with pytest.raises(TypeError):
        JobOptions(max_retries=True).retries("t", 3, limited=False)
