"""Kept for programs written against Spinach 0.0.25, which imported workers from here.

The executors live in spinach-worker; they are resolved on first use so that importing
spinach never imports the worker.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("ThreadWorkers", "AsyncioWorkers"):
        import spinach

        return getattr(spinach, name)
    raise AttributeError(f"module 'spinach.worker' has no attribute {name!r}")
