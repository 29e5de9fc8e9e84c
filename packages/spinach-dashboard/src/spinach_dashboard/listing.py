"""Jobs listed by state: one queue's page as `Engine.jobs` reads it, or every queue merged.

`Engine.jobs` reads one queue per call, a page being one range of one Redis list: its cost does
not grow with the queue. The list of every queue at once is merged from the head of each
queue's list, so it is paged down to `MAX_MERGED_OFFSET` jobs only (choose a queue to go
further); with a task filter it shows the first matches of each queue's filter window.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spinach import Engine
from spinach.admin import MAX_PAGE
from spinach.inspection import JobInfo

#: The job states the Jobs page has a tab for, in order (those of `Engine.jobs`).
JOB_STATES = ("ready", "held", "delayed", "running", "failed", "finished")

#: How each state is ordered, as the Jobs page says it.
ORDER = {
    "ready": "higher priority first, then oldest first",
    "held": "task by task, each oldest first",
    "delayed": "soonest due first",
    "running": "in lease order",
    "failed": "newest first",
    "finished": "newest first",
}

#: Most jobs one page lists.
PAGE_SIZE = 50

#: How deep the list of every queue at once is paged: merging reads each queue from the head of
#: its list, offset + PAGE_SIZE jobs of each, so this bounds what one page load reads.
MAX_MERGED_OFFSET = MAX_PAGE - PAGE_SIZE


class ListingError(ValueError):
    """A page of a listing that cannot be read (the pages answer 400 with this text)."""


@dataclass(frozen=True, slots=True)
class JobList:
    """One page of the jobs of a state; `next_offset` continues it (None: nothing after)."""

    state: str
    jobs: list[JobInfo]
    offset: int
    next_offset: int | None
    #: Jobs in that state in all (of the queue asked, or of every queue).
    total: int
    #: Jobs of every queue at once: more exist than this merged list pages to (choose a queue).
    capped: bool = False

    @property
    def order(self) -> str:
        return ORDER[self.state]


_NEVER = datetime.max.replace(tzinfo=UTC)
_EPOCH = datetime.min.replace(tzinfo=UTC)


def _sort_key(state: str) -> tuple[Callable[[JobInfo], Any], bool]:
    """How jobs of several queues are merged in the order of one queue's list."""
    if state == "ready":
        return (lambda job: (-job.priority, job.created_at or _NEVER)), False
    if state == "held":
        return (lambda job: job.created_at or _NEVER), False
    if state == "delayed":
        return (lambda job: job.due_at or _NEVER), False
    if state == "running":
        return (lambda job: job.started_at or _NEVER), False
    return (lambda job: job.finished_at or _EPOCH), True


def list_jobs(
    engine: Engine,
    queues: Sequence[str],
    state: str,
    queue: str | None,
    task: str | None,
    offset: int,
    limit: int = PAGE_SIZE,
) -> JobList:
    """One page of the jobs in `state` of `queue` (None: of every queue of `queues`)."""
    if state not in JOB_STATES:
        raise ListingError(f"Unknown job state {state!r}: one of {', '.join(JOB_STATES)}.")
    if offset < 0:
        raise ListingError(f"offset must not be negative, got {offset}")
    if queue is None and len(queues) == 1:
        queue = queues[0]  # every queue is this one: page it fully
    if queue is not None:
        page = engine.jobs(state, queue, task=task, offset=offset, limit=limit)
        return JobList(state, page.jobs, offset, page.next_offset, page.total)
    if not queues:
        return JobList(state, [], offset, None, 0)
    if task is not None:
        return _merged_filtered(engine, queues, state, task, offset, limit)
    return _merged(engine, queues, state, offset, limit)


def _merged(engine: Engine, queues: Sequence[str], state: str, offset: int, limit: int) -> JobList:
    if offset > MAX_MERGED_OFFSET:
        raise ListingError(
            f"The jobs of every queue at once are listed down to the {MAX_MERGED_OFFSET:,} "
            "first: choose a queue to see the others."
        )
    pages = [engine.jobs(state, q, offset=0, limit=offset + limit) for q in queues]
    key, newest_first = _sort_key(state)
    merged = sorted((job for page in pages for job in page.jobs), key=key, reverse=newest_first)
    total = sum(page.total for page in pages)
    after = offset + limit
    more = after < total
    capped = more and after > MAX_MERGED_OFFSET
    return JobList(
        state, merged[offset:after], offset, after if more and not capped else None, total, capped
    )


def _merged_filtered(
    engine: Engine, queues: Sequence[str], state: str, task: str, offset: int, limit: int
) -> JobList:
    """The first matches of `task` in each queue's filter window, merged: one page only."""
    if offset:
        raise ListingError(
            "A task filter over every queue at once shows one page: choose a queue to page "
            "through the jobs of a task."
        )
    pages = [engine.jobs(state, q, task=task, offset=0, limit=limit) for q in queues]
    key, newest_first = _sort_key(state)
    merged = sorted((job for page in pages for job in page.jobs), key=key, reverse=newest_first)
    capped = len(merged) > limit or any(page.next_offset is not None for page in pages)
    return JobList(state, merged[:limit], 0, None, sum(page.total for page in pages), capped)
