"""Argument checks: JSON data passes, anything that would not come back intact is refused."""

import decimal
import enum
import uuid
from collections import OrderedDict
from datetime import date

import pytest

from spinach.arguments import check_arguments
from spinach.exc import InvalidArgumentsError


class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -1,
        2**80,
        1.5,
        "",
        "x",
        [],
        {},
        (1, 2),
        [{"a": [None]}],
        OrderedDict(a=1),
        Color.RED,
    ],
)
def test_json_data_is_accepted(value: object) -> None:
    check_arguments("t", (value,), {"k": value})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (date(2024, 1, 1), r"args\[0\]: date is not JSON-compatible"),
        (uuid.uuid4(), "UUID"),
        (decimal.Decimal("1.1"), "Decimal"),
        ({"a": [1, {2}]}, r"args\[0\]\['a'\]\[1\]: set"),
        (float("inf"), "inf"),
        ({("a",): 1}, "dict key"),
        (b"x", "bytes"),
    ],
)
def test_other_values_are_refused_naming_the_task_and_path(value: object, message: str) -> None:
    with pytest.raises(InvalidArgumentsError, match=message) as info:
        check_arguments("send_email", (value,), {})
    assert "send_email" in str(info.value)


def test_keyword_arguments_are_named_in_the_error() -> None:
    with pytest.raises(InvalidArgumentsError, match=r"kwargs\['when'\]"):
        check_arguments("t", (), {"when": date.today()})
