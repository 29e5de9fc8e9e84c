"""Unique jobs: the rule a task or a job gives its unique key, and keys derived from arguments.

While a job holding a unique key is live in its queue (queued, waiting, and by default
running), sending another job with the same key sends nothing and returns the live job
instead. The Lua side (spinach_lua's unique include) holds and lets go of the keys in the same
scripts that start and end jobs; this module checks the rule and builds its wire form.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import msgspec

from spinach.exc import InvalidJobSignatureError
from spinach.option_keys import checked_option_key

#: Longest unique key accepted, in characters (a key is stored in the job's record).
MAX_UNIQUE_KEY = 256

#: When a job lets go of its key: once it ended (succeeded, failed for good, cancelled), or as
#: soon as a worker starts it (a duplicate may then be queued while it runs).
UniqueUntil = Literal["finished", "started"]

_UNTIL_CODES = {"finished": "f", "started": "s"}
_KEY_ENCODER = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True, slots=True)
class UniqueRule:
    """How a job holds its unique key.

    `until`: let go when the job ends ("finished", the default) or when it starts ("started").
    `hold_for`: keep the key that long after it is let go, so duplicates sent meanwhile are
    dropped too (throttling). `debounce`: a duplicate sent while the job still waits replaces
    the job's arguments and due time, instead of being dropped.
    """

    until: UniqueUntil = "finished"
    hold_for: timedelta = timedelta(0)
    debounce: bool = False

    @classmethod
    def checked(
        cls,
        where: str,
        until: str | None = None,
        hold_for: timedelta | float | None = None,
        debounce: bool | None = None,
        default: "UniqueRule | None" = None,
    ) -> "UniqueRule":
        """A rule from user input (None: the value of `default`), or a ValueError naming it."""
        base = default or cls()
        until = base.until if until is None else until
        if until not in _UNTIL_CODES:
            raise ValueError(
                f"{where}: unique_until must be 'finished' or 'started', got {until!r}"
            )
        if hold_for is None:
            held = base.hold_for
        elif isinstance(hold_for, timedelta):
            held = hold_for
        elif isinstance(hold_for, int | float) and not isinstance(hold_for, bool):
            if not math.isfinite(hold_for) or abs(hold_for) > 10**9:
                raise ValueError(
                    f"{where}: unique_for must be a finite number of seconds up to 10**9, "
                    f"got {hold_for!r}"
                )
            held = timedelta(seconds=hold_for)
        else:
            raise TypeError(f"{where}: unique_for takes a timedelta or seconds, got {hold_for!r}")
        if held < timedelta(0):
            raise ValueError(f"{where}: unique_for must not be negative, got {held}")
        if debounce is not None and not isinstance(debounce, bool):
            raise TypeError(f"{where}: debounce must be True or False, got {debounce!r}")
        return cls(
            until=until,  # type: ignore[arg-type]
            hold_for=held,
            debounce=base.debounce if debounce is None else debounce,
        )

    @property
    def wire(self) -> str:
        """The rule as the record stores it: "f" or "s", then "d" to debounce, then ms held."""
        held = -(-self.hold_for // timedelta(milliseconds=1))
        return (
            _UNTIL_CODES[self.until] + ("d" if self.debounce else "") + (str(held) if held else "")
        )


def checked_key(where: str, key: Any) -> str:
    """`key` if it can be a unique key, else a ValueError or TypeError saying why."""
    return checked_option_key(
        where, "unique_key", key, MAX_UNIQUE_KEY, "a hash of what makes the job unique"
    )


def derived_key(task: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The key of a job of a task declared unique: its task and a hash of its arguments.

    Keyword arguments are hashed in name order, so ``f(a=1, b=2)`` and ``f(b=2, a=1)`` share a
    key; a positional and a keyword spelling of the same call do not (the task's signature is
    not consulted).
    """
    try:
        encoded = _KEY_ENCODER.encode([list(args), kwargs])
    except (TypeError, msgspec.EncodeError) as e:
        raise InvalidJobSignatureError(
            f"Cannot derive the unique key of a job of task {task!r}: {e}"
        ) from None
    return f"{task}:{hashlib.blake2b(encoded, digest_size=16).hexdigest()}"
