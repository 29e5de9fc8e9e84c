"""Operations on a whole namespace: find a job, cancel it, the failed-job store, the status.

Each function takes the broker and the queues to look in (the engine's and every queue the
namespace has used); `Engine` and the `spinach` command call them.
"""

from collections.abc import Sequence

from spinach.brokers.base import Broker
from spinach.inspection import (
    CancelResult,
    JobInfo,
    LimitStatus,
    NamespaceStatus,
    PeriodicStatus,
    QueueStatus,
    WorkerStatus,
    from_ms,
)
from spinach.job import JobStatus

#: Most failed jobs one page may hold: a page is read in one call, never the whole store.
MAX_PAGE = 1000


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


def failed_jobs(
    broker: Broker, queues: Sequence[str], offset: int = 0, limit: int = 50
) -> list[JobInfo]:
    """Failed jobs of `queues`, newest first: one page, `limit` long after `offset` skipped."""
    if not 0 < limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")
    merged: list[JobInfo] = []
    for queue in queues:
        # The page of the merged list lies within the first offset + limit jobs of each queue.
        merged += broker.failed_page(queue, 0, offset + limit)
    merged.sort(key=lambda job: job.finished_at.timestamp() if job.finished_at else 0, reverse=True)
    return merged[offset : offset + limit]


def retry_failed(broker: Broker, queues: Sequence[str], job_id: str) -> bool:
    """Queue failed job `job_id` again (fresh attempt budget, same id); False if not possible."""
    for queue in queues:
        retried, _ = broker.retry_failed(queue, [job_id])
        if retried:
            return True
    return False


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
                oldest_ready_age=broker.oldest_ready_age(queue, stats),
            )
        )
        for info in broker.live_workers(queue):
            alive_ms = int(info.get("alive_ms") or 0)
            until = int(info.get("alive_until_ms") or 0)
            result.workers.append(
                WorkerStatus(
                    id=str(info.get("id", "")),
                    queue=queue,
                    host=str(info.get("host", "")),
                    pid=int(info.get("pid") or 0),
                    threads=int(info.get("threads") or 0),
                    jobs_running=int(info.get("jobs_running") or 0),
                    started_at=from_ms(info.get("started_at_ms")),
                    last_heartbeat=from_ms(until - alive_ms) if alive_ms and until else None,
                )
            )
        for task, next_ms in sorted(broker.periodic_schedule(queue).items()):
            result.periodic.append(
                PeriodicStatus(queue=queue, task=task, next_run=from_ms(next_ms))
            )
        for task in sorted(broker.limits_in_force(queue)):
            limit, running, waiting = broker.concurrency(queue, task)
            if limit is not None:
                result.limits.append(
                    LimitStatus(
                        queue=queue, task=task, limit=limit, running=running, waiting=waiting
                    )
                )
    return result
