"""Check that job arguments are JSON-compatible data that comes back exactly as given."""

import math
from typing import Any

from spinach.exc import InvalidArgumentsError

#: Exact types that need no look inside (subclasses take the slower, complete path).
_SCALARS = frozenset({str, int, bool, type(None)})


def check_arguments(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Raise InvalidArgumentsError, naming the offending path, unless every argument is JSON data.

    JSON data is None, bool, int, finite float, str, and lists (tuples are sent as lists, as in
    Spinach 0.0.25) and dicts with str keys of those. Anything else (datetime, bytes, set,
    Decimal, objects, NaN) would come back changed or not at all, so it is refused before
    anything reaches Redis.
    """
    try:
        for position, value in enumerate(args):
            if type(value) not in _SCALARS:
                _check(value, ("args", position))
        for name, value in kwargs.items():
            if type(value) not in _SCALARS:
                _check(value, ("kwargs", name))
    except _NotJsonData as e:
        raise InvalidArgumentsError(
            f"Cannot schedule task {task_name!r}: {e}. Job arguments must be JSON-compatible "
            "(None, bool, int, float, str, list, dict with str keys); pass an id and load the "
            "object in the task instead."
        ) from None


def json_problem(value: Any, name: str) -> str | None:
    """What keeps `value` (called `name` in the text) from being JSON data, or None."""
    if type(value) in _SCALARS:
        return None
    try:
        _check(value, (name,))
    except _NotJsonData as e:
        return str(e)
    return None


class _NotJsonData(Exception):
    """Where a value is not JSON data, and why."""

    def __init__(self, path: "Path", reason: str) -> None:
        super().__init__(f"{_format(path)}: {reason}")


#: Where a value sits in the arguments, built up only as deep as the check goes; it is
#: formatted into text only for an error message.
Path = tuple[Any, ...]


def _check(value: Any, path: Path) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is float:
        if not math.isfinite(value):
            _refuse(path, f"float {value!r} has no JSON form")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if type(item) not in _SCALARS:
                _check(item, (*path, index))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                _refuse(path, f"dict key {key!r} is {type(key).__name__}, not str")
            if type(item) not in _SCALARS:
                _check(item, (*path, key))
        return
    if isinstance(value, (str, int)):
        return
    if isinstance(value, float):
        _check(float(value), path)
        return
    _refuse(path, f"{kind.__name__} is not JSON-compatible")


def _format(path: Path) -> str:
    return str(path[0]) + "".join(f"[{step!r}]" for step in path[1:])


def _refuse(path: Path, reason: str) -> None:
    raise _NotJsonData(path, reason)
