"""Auto prefetch: how many jobs a worker fetches ahead of its threads, by their run times."""

import threading
import time
from datetime import UTC, datetime

from spinach.job import Job
from spinach.task import Task
from spinach_worker.workers import (
    AUTO_PREFETCH_MAX,
    AUTO_PREFETCH_PER_THREAD,
    PREFETCH_HORIZON,
    SHED_AFTER,
    ThreadWorkers,
    auto_prefetch,
)


def test_nothing_is_fetched_ahead_before_a_run_time_is_known() -> None:
    assert auto_prefetch(8, None) == 0


def test_short_runs_fill_the_cap_and_long_ones_get_nothing() -> None:
    assert auto_prefetch(8, 0.0) == 8 * AUTO_PREFETCH_PER_THREAD
    assert auto_prefetch(8, 0.00004) == 8 * AUTO_PREFETCH_PER_THREAD
    assert auto_prefetch(8, PREFETCH_HORIZON) == 8  # one job per thread within the horizon
    assert auto_prefetch(8, PREFETCH_HORIZON * 4) == 2
    assert auto_prefetch(8, PREFETCH_HORIZON * 10) == 0
    assert auto_prefetch(1, PREFETCH_HORIZON * 1.01) == 0


def test_many_coroutines_fetch_ahead_no_more_than_the_overall_cap() -> None:
    assert auto_prefetch(1000, 0.0001) == AUTO_PREFETCH_MAX
    assert auto_prefetch(1000, 0.05) == 100  # what 1000 of them finish in the horizon


def test_fewer_jobs_are_fetched_ahead_as_runs_grow_longer() -> None:
    counts = [auto_prefetch(8, seconds / 10_000) for seconds in range(1, 1000)]
    assert counts == sorted(counts, reverse=True)


def test_the_executor_follows_its_run_times_unless_told_a_number() -> None:
    workers = ThreadWorkers(2, "auto-prefetch")
    try:
        workers.prefetch = None
        assert workers.capacity == 2
        workers._run_seconds = 0.0001
        workers._free(0)
        assert workers.capacity == 2 + 2 * AUTO_PREFETCH_PER_THREAD
        workers._run_seconds = 1.0
        workers._free(0)
        assert workers.capacity == 2
        workers.prefetch = 5
        workers._run_seconds = 0.0001
        workers._free(0)
        assert workers.capacity == 7
    finally:
        workers.stop(5)


def test_a_run_still_going_sheds_the_jobs_fetched_ahead_newest_first() -> None:
    release = threading.Event()
    started: list[str] = []

    def hold() -> None:
        started.append("hold")
        release.wait(10)

    workers = ThreadWorkers(1, "auto-shed")
    try:
        workers.prefetch = None
        workers._run_seconds = 0.0001  # short runs so far: six jobs may wait for the thread
        task = Task(hold, "hold", "q", 0, None)
        jobs = [Job("hold", "q", datetime.now(UTC), 0) for _ in range(5)]
        for job in jobs:
            workers.submit_job(job, task)
        deadline = time.monotonic() + 5
        while not started and time.monotonic() < deadline:
            time.sleep(0.001)
        assert started == ["hold"]
        assert workers.shed_surplus() == []  # the run is still short
        time.sleep(SHED_AFTER)  # the run is long now: its thread counts for nothing
        shed = workers.shed_surplus()
        assert shed == [jobs[4], jobs[3], jobs[2], jobs[1]]  # every waiting job, newest first
        assert workers.capacity == 1 and workers.available_slots == 0
    finally:
        release.set()
        workers.stop(5)


def test_a_long_run_on_one_thread_leaves_the_prefetch_of_the_others() -> None:
    workers = ThreadWorkers(2, "auto-one-long")
    try:
        workers.prefetch = None
        workers._run_seconds = 0.0001
        workers._long_runs = 1  # what shed_surplus found: one thread held by a long run
        workers._free(0)
        assert workers.capacity == 2 + AUTO_PREFETCH_PER_THREAD  # the other thread's share
        workers._long_runs = 2
        workers._free(0)
        assert workers.capacity == 2
    finally:
        workers.stop(5)
