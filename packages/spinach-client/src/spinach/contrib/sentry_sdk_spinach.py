"""Kept for programs written against Spinach 0.0.25: the Sentry integration of the workers.

It lives in spinach-worker (``spinach_worker.integrations.sentry``), where jobs run; this
module only re-exports it, so importing it needs spinach-worker installed.
"""

from spinach.exc import WorkerNotInstalledError

try:
    from spinach_worker.integrations.sentry import SpinachIntegration
except ModuleNotFoundError as e:
    if e.name is None or e.name.partition(".")[0] != "spinach_worker":
        raise
    raise WorkerNotInstalledError(
        "The Sentry integration reports the jobs run by workers and ships with them: "
        "pip install spinach-worker"
    ) from None

__all__ = ["SpinachIntegration"]
