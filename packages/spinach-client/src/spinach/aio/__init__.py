"""The asyncio client: schedule and inspect jobs from async code, on redis.asyncio.

    from spinach.aio import AsyncEngine, AsyncRedisBroker

    aspin = AsyncEngine(spin, AsyncRedisBroker.from_url("redis://redis.internal:6379/0"))
    job = await aspin.schedule(send_welcome, user_id=42)

`import spinach` never imports this package: applications that do not use asyncio do not
pay for it.
"""

from spinach.aio.broker import AsyncRedisBroker
from spinach.aio.engine import AsyncEngine

__all__ = ["AsyncEngine", "AsyncRedisBroker"]
