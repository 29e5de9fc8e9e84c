"""Operations on a whole namespace: find a job, cancel it, list jobs, the failed-job store, the
status and the throughput.

Each operation takes the scope (namespace) and the queues to look in (the engine's and every
queue the namespace has used). The `*_op` functions are sans-IO operations (spinach.sansio),
shared by `Engine` and the asyncio client; the functions of the same name without the suffix
run them on a sync broker (the `spinach` command and the dashboard call those).
"""

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from spinach import operations, workflow_ops
from spinach.inspection import (
    CancelResult,
    JobInfo,
    JobPage,
    LimitStatus,
    MinuteCount,
    NamespaceStatus,
    PeriodicStatus,
    QueueStatus,
    RunningJob,
    WorkerStatus,
    from_ms,
)
from spinach.job import JobStatus
from spinach.keys import queue_keys
from spinach.operations import PAGE_STATES, Scope
from spinach.results import NoResultError, ResultTimeout, parse_stored
from spinach.sansio import Command, Op

if TYPE_CHECKING:
    from spinach.brokers.base import Broker

#: Most jobs one page may hold: a page is read in one call, never the whole store.
MAX_PAGE = 1000

#: Most jobs a task filter looks at per page: a filtered page never scans the whole queue; it
#: says where to continue instead.
FILTER_WINDOW = 2000


def _check_page(offset: int, limit: int) -> None:
    if not 0 < limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")


def find_job_op(scope: Scope, queues: Sequence[str], job_id: str) -> Op[JobInfo | None]:
    """The job `job_id` in whichever of `queues` knows it; a live job wins over old records."""
    found = None
    for queue in queues:
        info = yield from operations.job_info(scope, queue, job_id)
        if info is None:
            continue
        if info.status in (JobStatus.WAITING, JobStatus.QUEUED, JobStatus.RUNNING):
            return info
        found = found or info
    return found


def result_op(
    scope: Scope, queues: Sequence[str], job_id: str, timeout: float | None, block: float
) -> Op[Any]:
    """Wait for the result of `job_id` for up to `timeout` seconds (None: without end).

    The wait blocks on the job's result key (BLMOVE from the key to itself returns the value
    as soon as it is pushed and leaves it for the next reader), `block` seconds at most per
    call so that no socket timeout cuts it short: Redis is not polled for the job's state.
    """
    info = yield from find_job_op(scope, queues, job_id)
    if info is None:
        # Its record may be gone while its result is kept (a result_ttl longer than the
        # retention of finished records): look for the result itself.
        for queue in queues:
            key = queue_keys(scope.namespace, queue).result(job_id)
            raw = yield Command("lindex", (key, 0))
            if raw is not None:
                return parse_stored(raw).unwrap(job_id)
        raise NoResultError(
            f"No queue knows job {job_id}: it was never sent, or it ended longer ago than its "
            "records are kept"
        )
    key = queue_keys(scope.namespace, info.queue).result(job_id)
    if info.result_state is not None:
        raw = yield Command("lindex", (key, 0))  # its error and traceback as the worker sent them
        if raw is not None:
            return parse_stored(raw).unwrap(job_id)
    if not info.stores_result:
        raise NoResultError(
            f"Job {job_id} keeps no result: send it with store_result=True (schedule_with), or "
            "declare its task with store_result=True"
        )
    if info.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        raise NoResultError(f"Job {job_id} ended and its result expired")
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    while True:
        wait = block if deadline is None else min(block, deadline - time.monotonic())
        if wait <= 0:
            raise ResultTimeout(f"Job {job_id} did not end within {timeout} s")
        # Redis takes the timeout in seconds with decimals; 0 would mean "forever".
        raw = yield Command("blmove", (key, key, max(0.01, round(wait, 3)), "LEFT", "LEFT"))
        if raw is not None:
            return parse_stored(raw).unwrap(job_id)


def cancel_op(scope: Scope, queues: Sequence[str], job_id: str) -> Op[CancelResult]:
    """Cancel `job_id` in the queue that holds it (a running one: ask its worker to stop it)."""
    result = CancelResult.NOT_FOUND
    for queue in queues:
        outcome = yield from workflow_ops.cancel(scope, queue, job_id)
        if outcome is not CancelResult.NOT_FOUND:
            result = outcome
            if outcome in (CancelResult.CANCELLED, CancelResult.REQUESTED):
                return outcome
    return result


def run_now_op(scope: Scope, queues: Sequence[str], job_id: str) -> Op[bool]:
    """Make waiting job `job_id` ready now in the queue that holds it."""
    for queue in queues:
        if (yield from operations.run_now(scope, queue, job_id)):
            return True
    return False


def failed_jobs_op(
    scope: Scope, queues: Sequence[str], offset: int = 0, limit: int = 50
) -> Op[list[JobInfo]]:
    """Failed jobs of `queues`, newest first: one page, `limit` long after `offset` skipped."""
    _check_page(offset, limit)
    merged: list[JobInfo] = []
    for queue in queues:
        # The page of the merged list lies within the first offset + limit jobs of each queue.
        merged += yield from operations.failed_page(scope, queue, 0, offset + limit)
    merged.sort(key=lambda job: job.finished_at.timestamp() if job.finished_at else 0, reverse=True)
    return merged[offset : offset + limit]


def jobs_op(
    scope: Scope,
    queue: str,
    state: str,
    task: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Op[JobPage]:
    """One page of the jobs of `queue` in `state`, optionally of one task only.

    Without a task filter a page is one range of the queue's list. With one, at most
    FILTER_WINDOW jobs are looked at per call: the page may then hold fewer than `limit`
    jobs, and `next_offset` says where the next call continues.
    """
    _check_page(offset, limit)
    if state not in PAGE_STATES:
        raise ValueError(f"state must be one of {', '.join(PAGE_STATES)}, got {state!r}")
    if task is None or state == "held":  # held jobs are kept per task: no filter needed
        found, total = yield from operations.job_page(scope, queue, state, offset, limit, task)
        more = offset + limit < total
        return JobPage(
            jobs=[job for job in found if job is not None],
            next_offset=offset + limit if more else None,
            total=total,
        )
    matched: list[JobInfo] = []
    position = offset
    total = 0
    while len(matched) < limit and position - offset < FILTER_WINDOW:
        chunk = min(MAX_PAGE, FILTER_WINDOW - (position - offset))
        found, total = yield from operations.job_page(scope, queue, state, position, chunk)
        if not found:
            break
        for n, job in enumerate(found):
            if job is not None and job.task == task:
                matched.append(job)
                if len(matched) == limit:
                    position += n + 1
                    break
        else:
            position += len(found)
    more = position < total
    return JobPage(jobs=matched, next_offset=position if more else None, total=total)


def retry_failed_op(scope: Scope, queues: Sequence[str], job_id: str) -> Op[bool]:
    """Queue failed job `job_id` again (fresh attempt budget, same id); False if not possible."""
    for queue in queues:
        retried, _ = yield from operations.retry_failed(scope, queue, [job_id])
        if retried:
            return True
    return False


def retry_all_failed_op(scope: Scope, queues: Sequence[str], task: str | None = None) -> Op[int]:
    """Queue again every failed job of `queues` (of `task` only, if given); say how many."""
    total = 0
    for queue in queues:
        retried, _ = yield from operations.retry_failed(scope, queue, task=task)
        total += len(retried)
    return total


def purge_failed_op(scope: Scope, queues: Sequence[str], task: str | None = None) -> Op[int]:
    """Delete every failed job of `queues` (of `task` only, if given) for good; say how many."""
    total = 0
    for queue in queues:
        total += yield from operations.purge_failed(scope, queue, task=task)
    return total


def throughput_op(scope: Scope, queues: Sequence[str], minutes: int = 60) -> Op[list[MinuteCount]]:
    """Outcomes per minute of `queues` together, oldest minute first.

    Queues are read one after the other, so a minute may turn between two reads: counts are
    merged by their minute, not by their position, on the window of the last read. Without
    queues, the window ends at Redis's current minute.
    """
    if not 0 < minutes <= 120:
        raise ValueError(f"minutes must be between 1 and 120, got {minutes}")
    read: list[tuple[int, list[tuple[int, int, int]]]] = []
    for queue in queues:
        read.append((yield from operations.throughput(scope, queue, minutes)))
    if read:
        first = max(start for start, _ in read)
    else:
        now = yield from operations.redis_now_ms()
        first = (now // 60_000 - minutes + 1) * 60_000
    totals = {first + 60_000 * n: [0, 0, 0] for n in range(minutes)}
    for start, counts in read:
        for n, (succeeded, failed, retried) in enumerate(counts):
            total = totals.get(start + 60_000 * n)
            if total is not None:  # a minute that left the window between two reads
                total[0] += succeeded
                total[1] += failed
                total[2] += retried
    result = []
    for minute_ms, (succeeded, failed, retried) in totals.items():
        minute = from_ms(minute_ms)
        assert minute is not None
        result.append(
            MinuteCount(
                minute=minute,
                processed=succeeded + failed + retried,
                failed=failed,
                retried=retried,
            )
        )
    return result


def status_op(scope: Scope, queues: Sequence[str]) -> Op[NamespaceStatus]:
    """Counts, workers, periodic tasks and limits of every queue of `queues`."""
    result = NamespaceStatus(namespace=scope.namespace)
    for queue in queues:
        stats = yield from operations.queue_stats(scope, queue)
        result.queues.append(
            QueueStatus(
                name=queue,
                ready=stats.ready,
                delayed=stats.delayed,
                running=stats.running,
                failed=stats.failed,
                oldest_ready_age=stats.oldest_ready_age,
                paused=stats.paused,
                max_running=stats.max_running,
            )
        )
        declared: dict[str, list[str]] = {}
        for info in (yield from operations.live_workers(scope, queue)):
            for task in info.periodic:
                declared.setdefault(task, []).append(info.id)
            until, alive = info.alive_until_ms, info.alive_ms
            result.workers.append(
                WorkerStatus(
                    id=info.id,
                    queue=queue,
                    host=info.host,
                    pid=info.pid,
                    threads=info.threads,
                    jobs_running=info.jobs_running,
                    started_at=from_ms(info.started_at_ms),
                    last_heartbeat=from_ms(until - alive) if alive and until else None,
                    version=info.version,
                    running=tuple(
                        RunningJob(
                            job_id=job.job_id,
                            task=job.task,
                            thread=job.thread,
                            started_at=from_ms(job.started_ms),
                        )
                        for job in info.running
                    ),
                )
            )
        for periodic in (yield from operations.periodic_tasks(scope, queue)):
            result.periodic.append(
                PeriodicStatus(
                    queue=queue,
                    task=periodic.task,
                    next_run=from_ms(periodic.next_ms) if periodic.alive else None,
                    period=(
                        None
                        if periodic.period_ms is None
                        else timedelta(milliseconds=periodic.period_ms)
                    ),
                    paused=periodic.paused,
                    declared_by=tuple(declared.get(periodic.task, ())),
                )
            )
        code, override = yield from operations.limit_sources(scope, queue)
        for task in sorted((yield from operations.limits_in_force(scope, queue))):
            limit, running, waiting = yield from operations.concurrency(scope, queue, task)
            if limit is not None:
                result.limits.append(
                    LimitStatus(
                        queue=queue,
                        task=task,
                        limit=limit,
                        running=running,
                        waiting=waiting,
                        code_limit=code.get(task),
                        override=override.get(task),
                    )
                )
    return result


# -- the same, run on a sync broker ----------------------------------------------------------


def find_job(broker: "Broker", queues: Sequence[str], job_id: str) -> JobInfo | None:
    """The job `job_id` in whichever of `queues` knows it; a live job wins over old records."""
    return broker.run(find_job_op(broker, queues, job_id))


def cancel(broker: "Broker", queues: Sequence[str], job_id: str) -> CancelResult:
    """Cancel `job_id` in the queue that holds it, if it has not started."""
    return broker.run(cancel_op(broker, queues, job_id))


def run_now(broker: "Broker", queues: Sequence[str], job_id: str) -> bool:
    """Make waiting job `job_id` ready now in the queue that holds it."""
    return broker.run(run_now_op(broker, queues, job_id))


def failed_jobs(
    broker: "Broker", queues: Sequence[str], offset: int = 0, limit: int = 50
) -> list[JobInfo]:
    """Failed jobs of `queues`, newest first: one page, `limit` long after `offset` skipped."""
    return broker.run(failed_jobs_op(broker, queues, offset, limit))


def jobs(
    broker: "Broker",
    queue: str,
    state: str,
    task: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> JobPage:
    """One page of the jobs of `queue` in `state`, optionally of one task only."""
    return broker.run(jobs_op(broker, queue, state, task, offset, limit))


def retry_failed(broker: "Broker", queues: Sequence[str], job_id: str) -> bool:
    """Queue failed job `job_id` again (fresh attempt budget, same id); False if not possible."""
    return broker.run(retry_failed_op(broker, queues, job_id))


def throughput(broker: "Broker", queues: Sequence[str], minutes: int = 60) -> list[MinuteCount]:
    """Outcomes per minute of `queues` together, oldest minute first."""
    return broker.run(throughput_op(broker, queues, minutes))


def status(broker: "Broker", queues: Sequence[str]) -> NamespaceStatus:
    """Counts, workers, periodic tasks and limits of every queue of `queues`."""
    return broker.run(status_op(broker, queues))
