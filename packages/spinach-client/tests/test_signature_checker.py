"""The fast signature check agrees with inspect.Signature.bind on every call shape."""

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from spinach.exc import InvalidJobSignatureError
from spinach.job import SignatureChecker


def _a(a: int) -> None: ...
def _ab1(a: int, b: int = 1) -> None: ...
def _abcd(a: int, b: int, c: int = 2, d: int = 3) -> None: ...
def _star(*a: int) -> None: ...
def _kwonly(a: int, *, k: int) -> None: ...
def _kwargs(**kw: int) -> None: ...
def _posonly(a: int, /, b: int) -> None: ...
def _none() -> None: ...


FUNCTIONS = [_none, _a, _ab1, _abcd, _star, _kwonly, _kwargs, _posonly]
CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}), ((1,), {}), ((1, 2), {}), ((1, 2, 3), {}), ((1, 2, 3, 4, 5), {}),
    ((), {"a": 1}), ((1,), {"a": 1}), ((1,), {"b": 2}), ((), {"b": 2}), ((1,), {"k": 1}),
    ((), {"a": 1, "b": 2, "d": 4}), ((1,), {"zz": 1}), ((1, 2), {"c": 3, "d": 4}),
]  # fmt: skip


@pytest.mark.parametrize("func", FUNCTIONS, ids=lambda f: f.__name__)
def test_the_fast_check_accepts_and_refuses_exactly_what_inspect_does(
    func: Callable[..., Any],
) -> None:
    checker = SignatureChecker("t", func)
    for args, kwargs in CALLS:
        try:
            inspect.signature(func).bind(*args, **kwargs)
            expected = True
        except TypeError:
            expected = False
        try:
            checker.check(args, kwargs)
            accepted = True
        except InvalidJobSignatureError as e:
            accepted = False
            assert "Invalid signature for task t" in str(e)
        assert accepted == expected, (args, kwargs)
