"""Periodic tasks and concurrency limits as the pages show them.

What Redis knows (`Engine.status()`: scheduled and paused periodic tasks, limits in force with
their code limit and override), completed by the tasks attached to the dashboard's engine that
declare a period or a limit no live worker has registered yet. Every row can be acted on by
task name and queue: the standalone dashboard, which has no task attached, acts as well.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from spinach.inspection import NamespaceStatus, WorkerStatus


@dataclass(frozen=True, slots=True)
class Declarer:
    """A live worker that declares a periodic task (what the page says of who schedules it)."""

    id: str
    host: str | None = None
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class PeriodicRow:
    queue: str
    task: str
    period: timedelta | None
    next_run: datetime | None
    paused: bool
    declared_by: tuple[Declarer, ...]
    #: Known only from the attached tasks: no worker has registered it in Redis yet.
    from_code_only: bool = False

    @property
    def state(self) -> str:
        """ "paused", "scheduled", or "unscheduled" (no live worker vouches for it)."""
        if self.paused:
            return "paused"
        return "scheduled" if self.next_run is not None else "unscheduled"


@dataclass(frozen=True, slots=True)
class LimitRow:
    queue: str
    task: str
    #: The limit in force (None: not in force yet, see `from_code_only`).
    limit: int | None
    code_limit: int | None
    override: int | None
    running: int = 0
    waiting: int = 0
    from_code_only: bool = False


@dataclass(slots=True)
class Schedules:
    periodic: list[PeriodicRow] = field(default_factory=list)
    limits: list[LimitRow] = field(default_factory=list)
    #: Task names the limit form proposes: attached tasks, and those Redis knows.
    task_names: list[str] = field(default_factory=list)


def _declarers(ids: Iterable[str], workers: dict[str, WorkerStatus]) -> tuple[Declarer, ...]:
    found = []
    for worker_id in ids:
        worker = workers.get(worker_id)
        found.append(
            Declarer(worker_id, worker.host, worker.pid) if worker else Declarer(worker_id)
        )
    return tuple(found)


def _code_limit(task: Any) -> int | None:
    limit = getattr(task, "max_concurrency", None)
    return limit if isinstance(limit, int) and limit > 0 else None


def schedules(status: NamespaceStatus, attached: Iterable[Any]) -> Schedules:
    """The rows of the Periodic tasks and Concurrency limits pages."""
    attached = list(attached)
    workers = {worker.id: worker for worker in status.workers}
    result = Schedules()
    known = set()
    for periodic in status.periodic:
        known.add((periodic.queue, periodic.task))
        code = next(
            (t for t in attached if t.name == periodic.task and t.queue == periodic.queue), None
        )
        result.periodic.append(
            PeriodicRow(
                queue=periodic.queue,
                task=periodic.task,
                # A paused task's period is no longer in Redis: the attached task still says it.
                period=periodic.period or getattr(code, "periodicity", None),
                next_run=None if periodic.paused else periodic.next_run,
                paused=periodic.paused,
                declared_by=_declarers(periodic.declared_by, workers),
            )
        )
    for task in attached:
        if task.periodicity is not None and (task.queue, task.name) not in known:
            result.periodic.append(
                PeriodicRow(task.queue, task.name, task.periodicity, None, False, (), True)
            )
    in_force = set()
    for limit in status.limits:
        in_force.add((limit.queue, limit.task))
        result.limits.append(
            LimitRow(
                queue=limit.queue,
                task=limit.task,
                limit=limit.limit,
                code_limit=limit.code_limit,
                override=limit.override,
                running=limit.running,
                waiting=limit.waiting,
            )
        )
    for task in attached:
        code_limit = _code_limit(task)
        if code_limit is not None and (task.queue, task.name) not in in_force:
            result.limits.append(
                LimitRow(task.queue, task.name, None, code_limit, None, from_code_only=True)
            )
    result.periodic.sort(key=lambda row: (row.queue, row.task))
    result.limits.sort(key=lambda row: (row.queue, row.task))
    result.task_names = sorted(
        {task.name for task in attached} | {row.task for row in result.limits}
    )
    return result
