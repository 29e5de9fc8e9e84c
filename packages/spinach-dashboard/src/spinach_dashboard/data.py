"""Everything the dashboard reads from and does to a namespace, through the public Engine API.

The pages and actions call only this module, never the broker: when the storage layer offers
more (jobs listed by state, per-minute throughput, what each worker thread runs, tracebacks,
run-now, actions by task name), it is added here and `FEATURES` says so to the templates.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from spinach import Engine, MemoryBroker
from spinach.brokers.base import Broker
from spinach.const import DEFAULT_NAMESPACE
from spinach.exc import UnknownTask
from spinach.inspection import (
    CancelResult,
    JobInfo,
    LimitStatus,
    NamespaceStatus,
    PeriodicStatus,
    QueueStatus,
    WorkerStatus,
)
from spinach.keys import validate_queue

#: The job states the Jobs page has tabs for, in order.
JOB_STATES = ("ready", "delayed", "running", "failed", "finished")

#: Most jobs one page lists.
PAGE_SIZE = 50

#: Most failed jobs one call examines to fill a page filtered by task: a filter never scans a
#: whole failed store; the page says where to continue.
FILTER_WINDOW = 500

#: How deep the failed jobs of every queue at once can be paged: merging queues reads each
#: from its newest job, so older ones are paged within one queue (which reads only its page).
MAX_MERGED_OFFSET = 1000


@dataclass(frozen=True, slots=True)
class Features:
    """What the storage layer lets the dashboard show and do; the templates explain the rest."""

    #: States whose jobs can be listed (the others only have counts).
    listed_states: tuple[str, ...] = ("failed",)
    #: Jobs processed and failed per minute.
    throughput: bool = False
    #: Which job each worker thread runs, and the worker's version.
    running_jobs: bool = False
    #: The traceback of a failed job (today: its error type and message only).
    tracebacks: bool = False
    #: Run a delayed job now.
    run_now: bool = False
    #: Pause periodic tasks and set limits of tasks this engine does not have attached.
    control_by_name: bool = False


FEATURES = Features()


class NotFound(LookupError):
    """What the request names does not exist (a 404 for the pages)."""


class BadRequest(ValueError):
    """What the request says cannot be read (a 400 for the pages)."""


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queue of the Overview: its counts and the workers serving it."""

    status: QueueStatus
    workers: int
    threads: int
    busy_threads: int


@dataclass(frozen=True, slots=True)
class Overview:
    namespace: str
    queues: list[QueueRow]
    workers: int
    threads: int
    busy_threads: int

    @property
    def totals(self) -> dict[str, int]:
        return {
            name: sum(getattr(row.status, name) for row in self.queues)
            for name in ("ready", "delayed", "running", "failed")
        }


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of a job list; `next_offset` continues it (None: nothing after)."""

    jobs: list[JobInfo]
    offset: int
    next_offset: int | None
    #: Jobs in that state in all (of the queue asked, or of every queue).
    total: int
    #: Older jobs exist but are listed only within one queue (MAX_MERGED_OFFSET).
    capped: bool = False


@dataclass(frozen=True, slots=True)
class PeriodicRow:
    """A periodic task: scheduled by live workers (with its next run), or known here only."""

    queue: str
    task: str
    status: PeriodicStatus | None
    #: Whether this dashboard can pause and resume it (its engine has the task attached).
    controllable: bool


@dataclass(frozen=True, slots=True)
class LimitRow:
    queue: str
    task: str
    status: LimitStatus | None
    #: The limit declared in code, when this engine has the task attached.
    code_limit: int | None
    controllable: bool


@dataclass(slots=True)
class Schedules:
    """Periodic tasks and concurrency limits, with the attached tasks that could have them."""

    periodic: list[PeriodicRow] = field(default_factory=list)
    limits: list[LimitRow] = field(default_factory=list)
    #: Attached tasks a limit can be set on, by name.
    limitable: list[str] = field(default_factory=list)


def engine_for(engine_or_broker: Engine | Broker, namespace: str | None = None) -> Engine:
    """The Engine to read through: the one given, or one made on the broker given."""
    if isinstance(engine_or_broker, Engine):
        if namespace is not None and namespace != engine_or_broker.namespace:
            raise ValueError(
                f"namespace={namespace!r} differs from the engine's {engine_or_broker.namespace!r}"
                "; pass the engine alone"
            )
        return engine_or_broker
    if isinstance(engine_or_broker, Broker):
        return Engine(engine_or_broker, namespace=namespace or _broker_namespace(engine_or_broker))
    raise TypeError(
        f"create_app needs a spinach Engine or broker, got {type(engine_or_broker).__name__}"
    )


def _broker_namespace(broker: Broker) -> str:
    try:
        return broker.namespace
    except RuntimeError:  # not given to an engine yet
        return DEFAULT_NAMESPACE


class DashboardData:
    """The dashboard's view of one namespace."""

    features = FEATURES

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def namespace(self) -> str:
        return self.engine.namespace

    def redis_location(self) -> str:
        """Where Redis is, as a URL without user name or password (it is shown on every page)."""
        return redis_location(self.engine.broker)

    # -- reading ---------------------------------------------------------------------------

    def queues(self) -> list[str]:
        return self.engine.queues()

    def queue(self, name: str | None) -> str | None:
        """`name` checked: None or "" for every queue; a queue this namespace has."""
        if not name:
            return None
        try:
            validate_queue(name)
        except ValueError as e:
            raise BadRequest(str(e)) from None
        if name not in self.queues():
            raise NotFound(f"No queue {name!r} in namespace {self.namespace!r}.")
        return name

    def status(self, queue: str | None = None) -> NamespaceStatus:
        return self.engine.status(queue)

    def overview(self) -> Overview:
        status = self.status()
        rows = []
        for queue in status.queues:
            workers = [w for w in status.workers if w.queue == queue.name]
            rows.append(
                QueueRow(
                    status=queue,
                    workers=len(workers),
                    threads=sum(w.threads for w in workers),
                    busy_threads=sum(w.jobs_running for w in workers),
                )
            )
        return Overview(
            namespace=status.namespace,
            queues=rows,
            workers=len(status.workers),
            threads=sum(w.threads for w in status.workers),
            busy_threads=sum(w.jobs_running for w in status.workers),
        )

    def workers(self) -> list[WorkerStatus]:
        return sorted(self.status().workers, key=lambda w: (w.queue, w.host, w.pid))

    def jobs(
        self, state: str, queue: str | None, task: str | None, offset: int, limit: int = PAGE_SIZE
    ) -> JobPage:
        """One page of the jobs in `state` (of `queue`, of `task`), newest first."""
        if state not in self.features.listed_states:
            raise NotFound(f"Jobs that are {state} cannot be listed by this version of Spinach.")
        if offset < 0:
            raise BadRequest(f"offset must not be negative, got {offset}")
        depth = None if queue is not None else MAX_MERGED_OFFSET
        if depth is not None and offset >= depth:
            raise BadRequest(
                f"The failed jobs of every queue are listed down to the {depth:,} newest: "
                "choose a queue to see older ones."
            )
        total = sum(q.failed for q in self.status(queue).queues)
        # No task filter in the storage yet: examine one bounded window, say where it stopped.
        window = FILTER_WINDOW if task else limit
        if depth is not None:
            window = min(window, depth - offset)
        found = self._failed(queue, offset, window)
        jobs: list[JobInfo] = []
        examined = 0
        for job in found:
            if len(jobs) == limit:
                break
            examined += 1
            if not task or job.task == task:
                jobs.append(job)
        after = offset + examined
        more = bool(found) and after < total
        capped = more and depth is not None and after >= depth
        return JobPage(jobs, offset, after if more and not capped else None, total, capped)

    def _failed(self, queue: str | None, offset: int, limit: int) -> list[JobInfo]:
        if queue is None:
            return self.engine.failed_jobs(None, offset=offset, limit=limit)
        # One queue's page read from its offset (Engine.failed_jobs reads offset + limit jobs
        # of each queue to merge them); the storage's job listing replaces this.
        return self.engine.broker.failed_page(queue, offset, limit)

    def job(self, job_id: str) -> JobInfo:
        job_id = job_id_from(job_id)
        info = self.engine.get_job(job_id)
        if info is None:
            raise NotFound(
                f"No job {job_id} in namespace {self.namespace!r}: it was never sent here, or "
                "it finished longer ago than the records are kept."
            )
        return info

    def worker_of(self, job: JobInfo) -> WorkerStatus | None:
        """The live worker running (or that ran) `job`, if it is still alive."""
        if job.worker is None:
            return None
        for worker in self.status(job.queue).workers:
            if worker.id == job.worker:
                return worker
        return None

    def schedules(self) -> Schedules:
        status = self.status()
        attached = {task.name: task for task in self.engine.tasks}
        result = Schedules()
        scheduled = set()
        for periodic in status.periodic:
            scheduled.add((periodic.queue, periodic.task))
            live = periodic if periodic.next_run is not None and not periodic.paused else None
            result.periodic.append(
                PeriodicRow(periodic.queue, periodic.task, live, self._controls(periodic.task))
            )
        for task in attached.values():
            if task.periodicity is not None and (task.queue, task.name) not in scheduled:
                result.periodic.append(PeriodicRow(task.queue, task.name, None, True))
        in_force = set()
        for limit in status.limits:
            in_force.add((limit.queue, limit.task))
            task_obj = attached.get(limit.task)
            result.limits.append(
                LimitRow(
                    limit.queue,
                    limit.task,
                    limit,
                    _code_limit(task_obj),
                    self._controls(limit.task),
                )
            )
        for task in attached.values():
            if _code_limit(task) is not None and (task.queue, task.name) not in in_force:
                result.limits.append(LimitRow(task.queue, task.name, None, _code_limit(task), True))
        result.limitable = sorted(attached)
        result.periodic.sort(key=lambda row: (row.queue, row.task))
        result.limits.sort(key=lambda row: (row.queue, row.task))
        return result

    def _controls(self, task: str) -> bool:
        return task in self.engine.tasks.names

    # -- acting ----------------------------------------------------------------------------

    def retry(self, job_id: str) -> bool:
        return self.engine.retry_failed(job_id_from(job_id))

    def cancel(self, job_id: str) -> CancelResult:
        return self.engine.cancel(job_id_from(job_id))

    def retry_all(self, queue: str | None) -> int:
        return self.engine.retry_all_failed(queue)

    def purge(self, queue: str | None) -> int:
        return self.engine.purge_failed(queue)

    def pause_periodic(self, task: str) -> bool:
        return self.engine.remove_periodic_task(self._attached(task))

    def resume_periodic(self, task: str) -> bool:
        return self.engine.resume_periodic_task(self._attached(task))

    def set_limit(self, task: str, limit: int | None) -> int | None:
        if limit is not None and limit < 1:
            raise BadRequest("A concurrency limit is a whole number of at least 1.")
        return self.engine.set_concurrency_limit(self._attached(task), limit)

    def _attached(self, task: str) -> str:
        try:
            return self.engine.tasks.get(task).name
        except UnknownTask:
            raise NotFound(
                f"Task {task!r} is not attached to this dashboard's engine: pass create_app an "
                "Engine with the application's tasks attached to act on it."
            ) from None


def job_id_from(text: str) -> str:
    """A job id as stored (a UUID in its canonical form); BadRequest for anything else."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise BadRequest(f"{text!r} is not a job id (a UUID such as {uuid.UUID(int=0)}).") from None


def _code_limit(task: Any) -> int | None:
    limit = getattr(task, "max_concurrency", None)
    return limit if isinstance(limit, int) and limit > 0 else None


def redis_location(broker: Broker) -> str:
    """A broker's Redis as scheme://host:port/db: never a user name or password."""
    if isinstance(broker, MemoryBroker):
        return "embedded broker (in this process)"
    try:
        kwargs = broker.client.get_connection_kwargs()
    except Exception:  # noqa: BLE001 - only for display; a cluster client has no single host
        return _cluster_location(broker)
    if "host" not in kwargs:
        return "Redis (unix socket)" if "path" in kwargs else "Redis"
    scheme = "rediss" if kwargs.get("ssl") or "ssl_context" in kwargs else "redis"
    return f"{scheme}://{kwargs['host']}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def _cluster_location(broker: Broker) -> str:
    nodes: Sequence[Any] = getattr(broker.client, "startup_nodes", None) or []
    for node in nodes:
        host, port = getattr(node, "host", None), getattr(node, "port", None)
        if host:
            return f"redis+cluster://{host}:{port}"
    return "Redis"


def strip_credentials(url: str) -> str:
    """`url` without user name and password, for messages (never shows a secret)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=host).geturl()
