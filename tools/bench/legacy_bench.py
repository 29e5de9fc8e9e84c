"""One benchmark phase of Spinach 0.0.25 from PyPI (run by run.py with .bench/venv-0025).

The shared phases live in benchlib.py beside this file, found through sys.path[0]. It refuses to
run under any other spinach, so a wrong interpreter cannot pass the new code off as the old.
"""

import sys
from importlib.metadata import version
from typing import Any

import benchlib
import redis

import spinach

EXPECTED = "0.0.25"


def make_broker(url: str) -> Any:
    """0.0.25 has no from_url: it takes a ready client."""
    return spinach.RedisBroker(redis=redis.Redis.from_url(url))


if __name__ == "__main__":
    found = version("spinach")
    if found != EXPECTED:
        sys.exit(f"legacy_bench.py needs spinach=={EXPECTED}, found {found} ({sys.executable})")
    sys.exit(benchlib.main(benchlib.Flavor("legacy", found, spinach, make_broker), sys.argv[1:]))
