"""A web app installs spinach-client alone: importing it pulls in no worker or framework code."""

import importlib.util
import os
import subprocess
import sys

import pytest

from spinach import Engine, MemoryBroker
from spinach.exc import WorkerNotInstalledError

FORBIDDEN = ("spinach_worker", "sentry_sdk", "flask", "django", "sqlalchemy")

#: Set by `just test` when these tests run in an environment holding only spinach-client and its
#: dependencies; there the worker must not even be installed.
CLIENT_ONLY = os.environ.get("SPINACH_CLIENT_ONLY") == "1"


def test_importing_spinach_imports_no_worker_sentry_flask_or_django() -> None:
    code = (
        "import sys, spinach, spinach.signals, spinach.brokers;"
        "from spinach import Engine, Tasks, Batch, RedisBroker, MemoryBroker;"
        "Engine(MemoryBroker(), namespace='x');"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif(not CLIENT_ONLY, reason="needs the client-only environment of `just test`")
def test_the_client_only_environment_has_no_worker_installed() -> None:
    for name in FORBIDDEN:
        assert importlib.util.find_spec(name) is None, f"{name} is installed beside spinach-client"


@pytest.mark.skipif(not CLIENT_ONLY, reason="needs the client-only environment of `just test`")
def test_starting_workers_without_the_worker_package_says_what_to_install() -> None:
    spin = Engine(MemoryBroker(), namespace="x")
    with pytest.raises(WorkerNotInstalledError, match="pip install spinach-worker"):
        spin.start_workers(block=False)
    with pytest.raises(WorkerNotInstalledError, match="pip install spinach-worker"):
        import spinach

        spinach.ThreadWorkers  # noqa: B018
