"""One benchmark phase of the Spinach of this repository (run by run.py with the workspace venv).

The shared phases live in benchlib.py beside this file, found through sys.path[0].
"""

import sys
from importlib.metadata import version
from typing import Any

import benchlib

import spinach


def make_broker(url: str) -> Any:
    """The documented way to build a broker from a URL in this version."""
    return spinach.RedisBroker.from_url(url)


def make_async_engine(engine: Any, url: str) -> Any:
    """The asyncio client over the bench's Engine (imported only by the asyncio phases)."""
    from spinach.aio import AsyncEngine, AsyncRedisBroker

    return AsyncEngine(engine, AsyncRedisBroker.from_url(url))


if __name__ == "__main__":
    flavor = benchlib.Flavor(
        "current", version("spinach-client"), spinach, make_broker, make_async_engine
    )
    sys.exit(benchlib.main(flavor, sys.argv[1:]))
