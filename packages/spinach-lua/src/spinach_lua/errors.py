"""What the scripts report (the return code first in every reply), and what a script or a call
that breaks its contract raises."""

import enum


class ScriptError(enum.IntEnum):
    """Status a script puts first in its reply; only the client turns these into exceptions."""

    OK = 0
    ALREADY_DONE = 1
    SCHEMA_MISMATCH = -1


class ContractError(ValueError):
    """A script header that cannot be a contract, or a call that breaks one."""
