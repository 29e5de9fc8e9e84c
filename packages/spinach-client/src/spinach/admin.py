"""Operations on a whole namespace: find a job, cancel it, list jobs, the failed-job store, the
status and the throughput.

Each function takes the broker and the queues to look in (the engine's and every queue the
namespace has used); `Engine` and the `spinach` command call them.
"""

from collections.abc import Sequence
from datetime import timedelta

from spinach.brokers.base import PAGE_STATES, Broker
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


def find_job(broker: Broker, queues: Sequence[str], job_id: str) -> JobInfo | None:
    """The job `job_id` in whichever of `queues` knows it; a live job wins over old records."""
    found = None
    for queue in queues:
        info = broker.job_info(queue, job_id)
        if info is None:
            continue
        if info.status in (JobStatus.WAITING, JobStatus.QUEUED, JobStatus.RUNNING):
            return info
        found = found or info
    return found


def cancel(broker: Broker, queues: Sequence[str], job_id: str) -> CancelResult:
    """Cancel `job_id` in the queue that holds it, if it has not started."""
    result = CancelResult.NOT_FOUND
    for queue in queues:
        outcome = broker.cancel(queue, job_id)
        if outcome is not CancelResult.NOT_FOUND:
            result = outcome
            if outcome in (CancelResult.CANCELLED, CancelResult.RUNNING):
                return outcome
    return result


def run_now(broker: Broker, queues: Sequence[str], job_id: str) -> bool:
    """Make waiting job `job_id` ready now in the queue that holds it."""
    return any(broker.run_now(queue, job_id) for queue in queues)


def failed_jobs(
    broker: Broker, queues: Sequence[str], offset: int = 0, limit: int = 50
) -> list[JobInfo]:
    """Failed jobs of `queues`, newest first: one page, `limit` long after `offset` skipped."""
    _check_page(offset, limit)
    merged: list[JobInfo] = []
    for queue in queues:
        # The page of the merged list lies within the first offset + limit jobs of each queue.
        merged += broker.failed_page(queue, 0, offset + limit)
    merged.sort(key=lambda job: job.finished_at.timestamp() if job.finished_at else 0, reverse=True)
    return merged[offset : offset + limit]


def jobs(
    broker: Broker,
    queue: str,
    state: str,
    task: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> JobPage:
    """One page of the jobs of `queue` in `state`, optionally of one task only.

    Without a task filter a page is one range of the queue's list. With one, at most
    FILTER_WINDOW jobs are looked at per call: the page may then hold fewer than `limit`
    jobs, and `next_offset` says where the next call continues.
    """
    _check_page(offset, limit)
    if state not in PAGE_STATES:
        raise ValueError(f"state must be one of {', '.join(PAGE_STATES)}, got {state!r}")
    if task is None:
        found, total = broker.job_page(queue, state, offset, limit)
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
        found, total = broker.job_page(queue, state, position, chunk)
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


def retry_failed(broker: Broker, queues: Sequence[str], job_id: str) -> bool:
    """Queue failed job `job_id` again (fresh attempt budget, same id); False if not possible."""
    for queue in queues:
        retried, _ = broker.retry_failed(queue, [job_id])
        if retried:
            return True
    return False


def throughput(broker: Broker, queues: Sequence[str], minutes: int = 60) -> list[MinuteCount]:
    """Outcomes per minute of `queues` together, oldest minute first."""
    if not 0 < minutes <= 120:
        raise ValueError(f"minutes must be between 1 and 120, got {minutes}")
    first = 0
    totals = [[0, 0, 0] for _ in range(minutes)]
    for queue in queues:
        first, counts = broker.throughput(queue, minutes)
        for total, (succeeded, failed, retried) in zip(totals, counts, strict=True):
            total[0] += succeeded
            total[1] += failed
            total[2] += retried
    start = from_ms(first) if queues else None
    result = []
    for n, (succeeded, failed, retried) in enumerate(totals):
        minute = (start + timedelta(minutes=n)) if start else from_ms(60_000 * (n + 1))
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


def status(broker: Broker, queues: Sequence[str]) -> NamespaceStatus:
    """Counts, workers, periodic tasks and limits of every queue of `queues`."""
    result = NamespaceStatus(namespace=broker.namespace)
    for queue in queues:
        stats = broker.queue_stats(queue)
        result.queues.append(
            QueueStatus(
                name=queue,
                ready=stats.ready,
                delayed=stats.delayed,
                running=stats.running,
                failed=stats.failed,
                oldest_ready_age=stats.oldest_ready_age,
            )
        )
        declared: dict[str, list[str]] = {}
        for info in broker.live_workers(queue):
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
        for periodic in broker.periodic_tasks(queue):
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
        code, override = broker.limit_sources(queue)
        for task in sorted(broker.limits_in_force(queue)):
            limit, running, waiting = broker.concurrency(queue, task)
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
