"""Return codes of the scripts: the first element of every reply."""

import enum


class ScriptError(enum.IntEnum):
    """Status a script puts first in its reply; only the client turns these into exceptions."""

    OK = 0
    ALREADY_DONE = 1
    SCHEMA_MISMATCH = -1
