"""A worker paused between a fetch and the start of its jobs never starts jobs it lost."""

import signal
from pathlib import Path

import pytest
from faults.harness import Fleet, Ledger, wait_until
from redis_server import RedisServer

from spinach import Engine

pytestmark = pytest.mark.redis


def _stopped(pid: int) -> bool:
    """Whether the process is stopped by a signal (state T in /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def test_a_worker_paused_past_its_lease_before_the_start_does_not_run_the_job(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    client = server.client()
    # The worker stops itself right after its first fetch, before a thread took the job.
    paused = fleet.start(THREADS="1", LEASE="1.0", PAUSE_AFTER_FETCH="1")
    wait_until(lambda: len(client_engine.broker.live_workers("spinach")) == 1, 30, "worker up")
    job = client_engine.schedule("once", "k1")
    wait_until(lambda: client.lrange("paused", 0, -1) == [job.job_id.encode()], 20, "the pause")
    wait_until(lambda: _stopped(paused.process.pid), 10, "the process to be stopped")

    # Its lease expires; another worker takes the at-most-once job over and reports it failed.
    fleet.start(THREADS="2", LEASE="1.0")
    wait_until(
        lambda: Ledger(client).count("failed", "once")["k1"] == 1,
        30,
        "the job reported failed by the other worker",
        diagnose=fleet.logs,
    )

    paused.signal(signal.SIGCONT)
    client.rpush("resumed", "1")
    wait_until(
        lambda: "Not starting 1 fetched jobs" in paused.log(),
        20,
        "the resumed worker to give the job up",
        diagnose=fleet.logs,
    )
    # Resumed, it keeps working: a new job runs (on either worker), and k1 never started.
    client_engine.schedule("once", "k2")
    wait_until(lambda: Ledger(client).count("end", "once")["k2"] == 1, 20, "a new job to run")
    assert Ledger(client).count("start", "once")["k1"] == 0, fleet.logs()
    assert client_engine.get_job(job).status.name == "FAILED"
