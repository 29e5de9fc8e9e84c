"""A job cancelled or stopped by its time limit stays ended when its worker then dies: lease
recovery does not run it again."""

import signal
import time

import pytest
from faults.harness import Fleet, Ledger, wait_until
from redis_server import RedisServer

from spinach import CancelResult, Engine
from spinach.job import JobStatus

pytestmark = pytest.mark.redis


def _status(spin: Engine, job_id: str) -> JobStatus | None:
    info = spin.get_job(job_id)
    return info.status if info else None


def test_a_job_cancelled_on_a_worker_that_then_dies_ends_cancelled(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    # At least once (1000 retries): a job whose worker died would normally run again.
    job = client_engine.schedule("again", "c1", 20_000)
    victim = fleet.start(THREADS="2", LEASE="1.0")
    wait_until(lambda: Ledger(server.client()).count("start", "again")["c1"] == 1, 30, "its run")
    victim.signal(signal.SIGSTOP)  # frozen: it hears neither the cancel nor anything else
    assert client_engine.cancel(job) is CancelResult.REQUESTED
    victim.kill()
    fleet.start(THREADS="2", LEASE="1.0")  # takes the expired lease back and reports the job
    wait_until(
        lambda: _status(client_engine, job.job_id) is JobStatus.CANCELLED,
        30,
        "the job to end cancelled",
        diagnose=lambda: fleet.logs()[-3000:],
    )
    time.sleep(1.5)  # past another lease: a resurrected run would have started by now
    ledger = Ledger(server.client())
    assert ledger.count("start", "again")["c1"] == 1
    assert ledger.count("failed", "again")["c1"] == 0


def test_a_job_stopped_by_its_time_limit_stays_failed_when_its_worker_dies(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    job = client_engine.schedule("bounded", "t1", 20_000)
    victim = fleet.start(THREADS="1", LEASE="1.0")
    wait_until(
        lambda: _status(client_engine, job.job_id) is JobStatus.FAILED,
        30,
        "the time limit to fail it",
        diagnose=lambda: fleet.logs()[-3000:],
    )
    info = client_engine.get_job(job)
    assert info is not None and info.error_type == "spinach.time_limits.TimeLimitExceeded"
    victim.kill()  # its thread is still blocked in the job's sleep
    fleet.start(THREADS="1", LEASE="1.0")
    time.sleep(1.5)  # past a lease: a resurrected run would have started by now
    ledger = Ledger(server.client())
    assert ledger.count("start", "bounded")["t1"] == 1
    assert _status(client_engine, job.job_id) is JobStatus.FAILED
