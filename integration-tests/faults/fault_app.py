"""A worker application for the fault-injection tests, run as a real process.

Every task writes to a ledger list in Redis when it starts and ends, and failures reported
through job_failed are written there too, so the tests can check the delivery guarantees after
killing, pausing and disconnecting workers. Settings come from the environment.
"""

import os
import sys
import time
import uuid

# Scenario 7 runs this worker with its wall clock far off; patch it before Spinach is imported.
CLOCK_OFFSET = float(os.environ.get("CLOCK_OFFSET", "0"))
if CLOCK_OFFSET:
    import datetime as _datetime

    _real_time = time.time
    time.time = lambda: _real_time() + CLOCK_OFFSET  # type: ignore[assignment]
    time.time_ns = lambda: int(time.time() * 1e9)  # type: ignore[assignment]

    class _SkewedDatetime(_datetime.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
            return _datetime.datetime.fromtimestamp(time.time(), tz)

    _datetime.datetime = _SkewedDatetime  # type: ignore[misc]

from datetime import timedelta  # noqa: E402

import redis  # noqa: E402

from spinach import Engine, RedisBroker, Tasks, signals  # noqa: E402
from spinach.retry import ExponentialBackoff  # noqa: E402

URL = os.environ["REDIS_URL"]
NAMESPACE = os.environ.get("NAMESPACE", "faults")
ledger = redis.Redis.from_url(URL)
tasks = Tasks()
fast = ExponentialBackoff(base=timedelta(milliseconds=50), cap=timedelta(milliseconds=200))


def record(event: str, task: str, key: str) -> None:
    """Add an event to the ledger, waiting out Redis outages: the ledger must not lose one.

    Each event carries a nonce and the ledger is a set, so a write re-sent after a lost reply
    is counted once.
    """
    entry = f"{event}:{task}:{key}:{os.getpid()}:{uuid.uuid4().hex}"
    deadline = time.monotonic() + 30
    while True:
        try:
            ledger.sadd("ledger", entry)
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@tasks.task(name="again", max_retries=1000, retry_policy=fast)
def again(key: str, ms: int = 0) -> None:
    """At least once: retried on any failure."""
    record("start", "again", key)
    time.sleep(ms / 1000)  # the job's own work
    record("end", "again", key)


@tasks.task(name="paced", rate_limit="2/s", max_retries=1000, retry_policy=fast)
def paced(key: str, ms: int = 0) -> None:
    """Rate-limited and at least once."""
    record("start", "paced", key)
    time.sleep(ms / 1000)
    record("end", "paced", key)


@tasks.task(name="once")
def once(key: str, ms: int = 0) -> None:
    """At most once: never retried."""
    record("start", "once", key)
    time.sleep(ms / 1000)  # the job's own work
    record("end", "once", key)


@tasks.task(name="bounded", time_limit=0.5)
def bounded(key: str, ms: int = 0) -> None:
    """At most once, with a time limit: a run past half a second is stopped and fails."""
    record("start", "bounded", key)
    time.sleep(ms / 1000)  # blocked in C: the worker takes the outcome over and goes on
    record("end", "bounded", key)


@tasks.task(name="stamp")
def stamp(key: str, due: float) -> None:
    """Record the Redis time at which a delayed job started, and when it was due."""
    seconds, micros = ledger.time()
    ledger.rpush("stamps", f"{key}:{due}:{seconds + micros / 1e6}")


@tasks.task(name="limited", max_retries=10, max_concurrency=int(os.environ.get("LIMIT", "2")))
def limited(key: str, ms: int = 0) -> None:
    """A task with a concurrency limit: records the Redis time at its start and end."""
    start, micros = ledger.time()
    time.sleep(ms / 1000)  # the job's own work
    end, end_micros = ledger.time()
    ledger.sadd("spans", f"{key}:{start + micros / 1e6}:{end + end_micros / 1e6}:{os.getpid()}")


if os.environ.get("PERIODIC_MS"):

    @tasks.task(name="beat", periodicity=timedelta(milliseconds=int(os.environ["PERIODIC_MS"])))
    def beat() -> None:
        """A periodic task: records the Redis time of each run."""
        seconds, micros = ledger.time()
        ledger.sadd("beats", f"{seconds + micros / 1e6}:{os.getpid()}")


@tasks.task(name="member", max_retries=1000, retry_policy=fast)
def member(key: str, ms: int = 0) -> str:
    """A workflow step, at least once: records its start and end, returns its key."""
    record("start", "member", key)
    time.sleep(ms / 1000)
    record("end", "member", key)
    return key


@tasks.task(name="joined")
def joined(results: list[str], key: str) -> None:
    """A group's on_success callback, at most once: records that it started, and what it got."""
    record("start", "joined", f"{key}={'+'.join(sorted(results))}")


@tasks.task(name="completed")
def completed(summary: dict[str, int], key: str) -> None:
    """A group's on_complete callback, at most once."""
    record("start", "completed", f"{key}={summary['succeeded']}")


@signals.job_failed.connect_via(NAMESPACE)
def on_failed(namespace: str, job, err) -> None:  # type: ignore[no-untyped-def]
    key = job.task_args[0] if job.task_args else "?"
    record("failed", job.task_name, key)


if not os.environ.get("REDIS_MAY_BE_DOWN"):  # the start-up tests start it without a Redis
    ledger.hset("clocks", str(os.getpid()), time.time())  # what this host believes the time is
spin = Engine(RedisBroker.from_url(URL), namespace=NAMESPACE)
spin.attach_tasks(tasks)

if os.environ.get("PAUSE_AFTER_FETCH"):
    # The pause of scenario 8: this process stops itself (SIGSTOP, as a frozen VM or a long GC
    # would) right after its first fetch of jobs, before any thread took them; the test resumes
    # it with SIGCONT once another worker took the jobs over.
    import signal

    from spinach_worker.fetcher import Fetcher

    def _pause_once(ids: list[str]) -> None:
        Fetcher._after_fetch = None
        ledger.rpush("paused", *ids)
        # A stop signal takes effect when some thread next enters the kernel, maybe after this
        # one went on: wait here for the test's word that it sent SIGCONT, so that the pause
        # surely falls between this fetch and the start of its jobs.
        os.kill(os.getpid(), signal.SIGSTOP)
        ledger.blpop(["resumed"], timeout=60)

    Fetcher._after_fetch = _pause_once

if __name__ == "__main__":
    import logging

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(process)d %(threadName)s %(levelname)s %(message)s",
    )
    spin.start_workers(
        number=int(os.environ.get("THREADS", "4")),
        lease_seconds=float(os.environ.get("LEASE", "1.0")),
        shutdown_timeout=float(os.environ.get("SHUTDOWN_TIMEOUT", "10")),
        block=True,
    )
    sys.exit(0)
