"""A worker process imports only what it uses: start-up time is part of every deploy and
every autoscaled worker's first job."""

import subprocess
import sys

#: Modules a worker that runs its own threads, without a health port or a tracing SDK, has
#: no use for (the supervisor, the health server and trace propagation import them).
NOT_AT_START = ("http.server", "multiprocessing", "opentelemetry.propagate")


def test_a_worker_imports_none_of_what_it_does_not_use() -> None:
    code = (
        "import sys\n"
        "import spinach, spinach_worker, spinach_worker.runtime\n"
        "from spinach import Engine, MemoryBroker\n"
        "Engine(MemoryBroker())\n"
        f"print(','.join(m for m in {NOT_AT_START!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_the_supervisor_is_still_there_on_first_use() -> None:
    import spinach_worker
    from spinach_worker.supervisor import Supervisor

    assert spinach_worker.Supervisor is Supervisor
    assert "Supervisor" in dir(spinach_worker)
