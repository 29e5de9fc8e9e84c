"""The embedded broker: no Redis server, the very same Lua scripts, run in-process.

It is fakeredis with its Lua support (lupa), so jobs follow exactly the state machine they follow
on Redis. Jobs live in this process only: use it for tests, scripts and single-process apps.
"""

from spinach import const
from spinach.brokers.base import Broker


class MemoryBroker(Broker):
    """A broker held in this process's memory; its jobs are gone when the process exits."""

    def __init__(self, enqueue_job_max_retries: int = const.DEFAULT_ENQUEUE_JOB_RETRIES) -> None:
        import fakeredis  # imported here: only embedded use pays for it

        super().__init__(
            fakeredis.FakeRedis(server=fakeredis.FakeServer()),
            enqueue_job_max_retries=enqueue_job_max_retries,
        )
