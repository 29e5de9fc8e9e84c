"""Options of one job, given by `schedule_with`, over its task's defaults.

`schedule(task, *args, **kwargs)` passes every keyword to the task, as Spinach 0.0.25 did, so a
job's own options cannot be keywords of it: `schedule_with` takes the task's arguments as one
tuple and one dict, and the options as keyword-only parameters. Each option left out (None)
takes the task's value.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from spinach.const import PRIORITY_MAX, PRIORITY_MIN
from spinach.results import checked_ttl
from spinach.unique import UniqueRule, checked_key
from spinach.utils import checked_duration


@dataclass(frozen=True, slots=True)
class JobOptions:
    """What one job sets for itself; None everywhere means "as its task says"."""

    max_retries: int | float | None = None
    unique_key: str | None = None
    unique_until: str | None = None
    unique_for: timedelta | float | None = None
    debounce: bool | None = None
    priority: int | None = None
    rate_key: str | None = None
    store_result: bool | None = None
    result_ttl: timedelta | float | None = None

    def result_ttl_ms(self, task: str, default: int) -> int:
        """How long the job's result is kept, in ms (0: none): its own, or the task's."""
        if self.result_ttl is None and (
            self.store_result is None or (self.store_result and default)
        ):
            return default
        return checked_ttl(f"Job of task {task!r}", self.store_result, self.result_ttl)

    def retries(self, task: str, default: int | float, limited: bool) -> int | float:
        """The job's max_retries (its own, checked, or the task's)."""
        value = self.max_retries
        if value is None:
            return default
        if isinstance(value, bool) or (not isinstance(value, int) and value != math.inf):
            raise TypeError(
                f"Job of task {task!r}: max_retries must be an int or float('inf'), got {value!r}"
            )
        if value < 0:
            raise ValueError(f"Job of task {task!r}: max_retries must not be negative")
        if limited and value == 0:
            raise ValueError(
                f"Job of task {task!r}: its task has a concurrency limit, so max_retries must "
                "be at least 1 (a job of a limited task is taken back when its worker dies)"
            )
        return value

    def unique(self, task: str, derived: str | None, default: UniqueRule) -> tuple[str, str]:
        """(key, rule in wire form) of the job, ("", "") when it has no unique key.

        `derived` is the key the task derives from the job's arguments (None when the task is
        not unique): a key given here wins over it.
        """
        where = f"Job of task {task!r}"
        key = derived if self.unique_key is None else checked_key(where, self.unique_key)
        rule_given = (self.unique_until, self.unique_for, self.debounce) != (None, None, None)
        if key is None:
            if rule_given:
                raise ValueError(
                    f"{where}: unique_until, unique_for and debounce need a unique key: pass "
                    "unique_key=..., or declare the task with unique=True"
                )
            return "", ""
        if not rule_given:
            return key, default.wire
        rule = UniqueRule.checked(
            where, self.unique_until, self.unique_for, self.debounce, default=default
        )
        return key, rule.wire


def checked_priority(where: str, value: object) -> int:
    """A priority as jobs carry it: an int from PRIORITY_MIN to PRIORITY_MAX."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: priority must be an int, got {value!r}")
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise ValueError(
            f"{where}: priority must be from {PRIORITY_MIN} to {PRIORITY_MAX} (higher runs "
            f"first, 0 is the default), got {value}"
        )
    return value


#: A job without options of its own.
NO_OPTIONS = JobOptions()


def checked_request(
    args: Any, kwargs: Any, at: datetime | None, delay: timedelta | float | None
) -> tuple[datetime | timedelta | None, tuple[Any, ...], dict[str, Any]]:
    """What every `schedule_with` was given, checked: (due time, args, kwargs)."""
    call_args, call_kwargs = checked_arguments(args, kwargs)
    return checked_when(at, delay), call_args, call_kwargs


def checked_when(
    at: datetime | None, delay: timedelta | float | None
) -> datetime | timedelta | None:
    """The due time `schedule_with` was given: `at` or `delay` (seconds or a timedelta)."""
    if at is not None and delay is not None:
        raise ValueError("schedule_with takes at= or delay=, not both")
    if at is not None:
        if not isinstance(at, datetime):
            raise TypeError(f"at= takes a datetime, got {at!r}")
        return at
    if delay is None:
        return None
    return checked_duration("delay=", delay)


def checked_arguments(args: Any, kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The task's arguments as `schedule_with` takes them: a tuple (or list) and a dict."""
    if not isinstance(args, tuple | list):
        raise TypeError(f"args= takes a tuple or a list of the task's arguments, got {args!r}")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise TypeError(f"kwargs= takes a dict of the task's keyword arguments, got {kwargs!r}")
    return tuple(args), kwargs
