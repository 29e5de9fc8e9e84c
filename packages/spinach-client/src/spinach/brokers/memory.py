"""The embedded broker: no Redis server, the very same Lua scripts, run in-process.

It is fakeredis with its Lua support (lupa), so jobs follow exactly the state machine they follow
on Redis. Jobs live in this process only: use it for tests, scripts and single-process apps.
Both come with the extra `spinach-client[memory]`, so that a web app on Redis does not carry them.
"""

import importlib.util
from types import ModuleType

from spinach import const
from spinach.brokers.base import Broker
from spinach.exc import MemoryBrokerNotInstalledError

#: What the memory extra brings (sortedcontainers comes with fakeredis).
_EXTRA_MODULES = ("fakeredis", "lupa", "sortedcontainers")


class MemoryBroker(Broker):
    """A broker held in this process's memory; its jobs are gone when the process exits."""

    def __init__(self, enqueue_job_max_retries: int = const.DEFAULT_ENQUEUE_JOB_RETRIES) -> None:
        fakeredis = _import_fakeredis()
        super().__init__(
            fakeredis.FakeRedis(server=fakeredis.FakeServer()),
            enqueue_job_max_retries=enqueue_job_max_retries,
        )


def _import_fakeredis() -> ModuleType:
    """Import fakeredis here, not with spinach: only embedded use pays for it.

    fakeredis without lupa imports fine and refuses only the first script it is sent: lupa is
    looked for now, so that a missing extra fails here and not in a job's first state change.
    """
    try:
        import fakeredis
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in _EXTRA_MODULES:
            raise
        raise _extra_missing(e.name or "fakeredis") from None
    if importlib.util.find_spec("lupa") is None:
        raise _extra_missing("lupa")
    return fakeredis


def _extra_missing(module: str) -> MemoryBrokerNotInstalledError:
    return MemoryBrokerNotInstalledError(
        f"MemoryBroker needs the memory extra ({module} is not installed): "
        "pip install 'spinach-client[memory]'"
    )
