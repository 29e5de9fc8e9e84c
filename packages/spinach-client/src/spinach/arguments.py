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
    for position, value in enumerate(args):
        if type(value) not in _SCALARS:
            _check(task_name, value, ("args", position))
    for name, value in kwargs.items():
        if type(value) not in _SCALARS:
            _check(task_name, value, ("kwargs", name))


#: Where a value sits in the arguments, built up only as deep as the check goes; it is
#: formatted into text only for an error message.
Path = tuple[Any, ...]


def _check(task_name: str, value: Any, path: Path) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is float:
        if not math.isfinite(value):
            _refuse(task_name, path, f"float {value!r} has no JSON form")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if type(item) not in _SCALARS:
                _check(task_name, item, (*path, index))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                _refuse(task_name, path, f"dict key {key!r} is {type(key).__name__}, not str")
            if type(item) not in _SCALARS:
                _check(task_name, item, (*path, key))
        return
    if isinstance(value, (str, int)):
        return
    if isinstance(value, float):
        _check(task_name, float(value), path)
        return
    _refuse(task_name, path, f"{kind.__name__} is not JSON-compatible")


def _format(path: Path) -> str:
    return str(path[0]) + "".join(f"[{step!r}]" for step in path[1:])


def _refuse(task_name: str, path: Path, reason: str) -> None:
    raise InvalidArgumentsError(
        f"Cannot schedule task {task_name!r}: {_format(path)}: {reason}. Job arguments must be "
        "JSON-compatible (None, bool, int, float, str, list, dict with str keys); pass an id "
        "and load the object in the task instead."
    )
