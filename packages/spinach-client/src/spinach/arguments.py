"""Check that job arguments are JSON-compatible data that comes back exactly as given."""

import math
from typing import Any

from spinach.exc import InvalidArgumentsError

_SCALARS = (str, int, type(None))


def check_arguments(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Raise InvalidArgumentsError, naming the offending path, unless every argument is JSON data.

    JSON data is None, bool, int, finite float, str, and lists (tuples are sent as lists, as in
    Spinach 0.0.25) and dicts with str keys of those. Anything else (datetime, bytes, set,
    Decimal, objects, NaN) would come back changed or not at all, so it is refused before
    anything reaches Redis.
    """
    for position, value in enumerate(args):
        _check(task_name, value, f"args[{position}]")
    for name, value in kwargs.items():
        _check(task_name, value, f"kwargs[{name!r}]")


def _check(task_name: str, value: Any, path: str) -> None:
    kind = type(value)
    if kind in _SCALARS or kind is bool:
        return
    if kind is float:
        if not math.isfinite(value):
            _refuse(task_name, path, f"float {value!r} has no JSON form")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(task_name, item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                _refuse(task_name, path, f"dict key {key!r} is {type(key).__name__}, not str")
            _check(task_name, item, f"{path}[{key!r}]")
        return
    if isinstance(value, (str, int)):
        return
    if isinstance(value, float):
        _check(task_name, float(value), path)
        return
    _refuse(task_name, path, f"{kind.__name__} is not JSON-compatible")


def _refuse(task_name: str, path: str, reason: str) -> None:
    raise InvalidArgumentsError(
        f"Cannot schedule task {task_name!r}: {path}: {reason}. Job arguments must be "
        "JSON-compatible (None, bool, int, float, str, list, dict with str keys); pass an id "
        "and load the object in the task instead."
    )
