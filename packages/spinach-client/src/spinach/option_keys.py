"""Keys a job is given at send time (its unique key, its rate key): one check for them all.

They are stored in the job's record and in the queue's keyed state, where control characters
separate fields, so they are short, non-empty strings without any.
"""

from typing import Any


def checked_option_key(where: str, option: str, key: Any, longest: int, shorter: str) -> str:
    """`key` if option `option` may take it, else a ValueError or TypeError saying why.

    `shorter` says what to pass instead of a key over `longest` characters.
    """
    if not isinstance(key, str):
        raise TypeError(f"{where}: {option} must be a str, got {key!r}")
    if not key:
        raise ValueError(f"{where}: {option} must not be empty")
    if len(key) > longest:
        raise ValueError(
            f"{where}: {option} is {len(key)} characters long, over {longest}: pass a shorter "
            f"key ({shorter})"
        )
    if any(ord(char) < 32 for char in key):
        raise ValueError(f"{where}: {option} must not contain control characters: {key!r}")
    return key
