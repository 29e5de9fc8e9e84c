"""Everything the dashboard reads from and does to a namespace, through the public Engine API.

The pages and actions call only this module (and `listing` and `schedules`, which it uses),
never the broker: one place says which Engine call each page costs.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from spinach import Engine, MemoryBroker
from spinach.brokers.base import Broker
from spinach.const import DEFAULT_NAMESPACE
from spinach.exc import UnknownTask
from spinach.inspection import (
    CancelResult,
    JobInfo,
    NamespaceStatus,
    QueueStatus,
    WorkerStatus,
)
from spinach.keys import validate_queue
from spinach_dashboard.chart import Chart, chart, merge, sparkline
from spinach_dashboard.listing import JOB_STATES, JobList, ListingError, list_jobs
from spinach_dashboard.schedules import Schedules, schedules

#: Minutes of the Overview's throughput chart (Engine.throughput keeps two hours).
CHART_MINUTES = 60


class NotFound(LookupError):
    """What the request names does not exist (a 404 for the pages)."""


class BadRequest(ValueError):
    """What the request says cannot be read (a 400 for the pages)."""


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queue of the Overview: its counts, its last hour, and the workers serving it."""

    status: QueueStatus
    workers: int
    threads: int
    busy_threads: int
    throughput: Chart
    #: Jobs of tasks with a concurrency limit waiting for a free slot (not counted as ready).
    held_back: int = 0


@dataclass(frozen=True, slots=True)
class Overview:
    namespace: str
    queues: list[QueueRow]
    workers: int
    threads: int
    busy_threads: int
    #: Jobs processed and failed per minute, every queue together.
    throughput: Chart

    @property
    def totals(self) -> dict[str, int]:
        return {
            name: sum(getattr(row.status, name) for row in self.queues)
            for name in ("ready", "delayed", "running", "failed")
        }


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
        series = []
        for queue in status.queues:
            workers = [w for w in status.workers if w.queue == queue.name]
            counts = self.engine.throughput(queue.name, CHART_MINUTES)
            series.append(counts)
            rows.append(
                QueueRow(
                    status=queue,
                    workers=len(workers),
                    threads=sum(w.threads for w in workers),
                    busy_threads=sum(w.jobs_running for w in workers),
                    throughput=sparkline(counts),
                    held_back=sum(
                        limit.waiting for limit in status.limits if limit.queue == queue.name
                    ),
                )
            )
        return Overview(
            namespace=status.namespace,
            queues=rows,
            workers=len(status.workers),
            threads=sum(w.threads for w in status.workers),
            busy_threads=sum(w.jobs_running for w in status.workers),
            throughput=chart(merge(series, CHART_MINUTES), minutes=CHART_MINUTES),
        )

    def workers(self) -> list[WorkerStatus]:
        return sorted(self.status().workers, key=lambda w: (w.queue, w.host, w.pid))

    def attached_queue(self, task: str | None) -> str | None:
        """The queue of `task` if this engine has it attached (where its jobs are sent)."""
        if task is None or task not in self.engine.tasks.names:
            return None
        return self.engine.tasks.get(task).queue

    def jobs(self, state: str, queue: str | None, task: str | None, offset: int) -> JobList:
        """One page of the jobs in `state` (of `queue`, of `task`), in the state's order."""
        try:
            return list_jobs(self.engine, self.queues(), state, queue, task, offset)
        except ListingError as e:
            raise BadRequest(str(e)) from None

    def job_counts(self, status: NamespaceStatus, listed: JobList) -> dict[str, int]:
        """Jobs in each state (of the queues of `status`) for the Jobs page's tabs.

        The finished jobs are not counted by the status: their count is shown on their own
        tab only (the listing's total), rather than paying a call per queue on every page.
        """
        counts = {
            state: sum(getattr(queue, state) for queue in status.queues)
            for state in JOB_STATES
            if state not in ("finished", "held")
        }
        counts["held"] = sum(limit.waiting for limit in status.limits)
        if listed.state == "finished":
            counts["finished"] = listed.total
        return counts

    def job(self, job_id: str) -> JobInfo:
        job_id = job_id_from(job_id)
        info = self.engine.get_job(job_id)
        if info is None:
            raise NotFound(
                f"No job {job_id} in namespace {self.namespace!r}: it was never sent here, or "
                "it finished longer ago than the records are kept."
            )
        return info

    def workflow(self, workflow_id: str | None) -> list[JobInfo]:
        """The steps of a workflow, in their order (none when it is not known)."""
        if workflow_id is None:
            return []
        return self.engine.get_workflow(workflow_id) or []

    def workers_by_id(self, queue: str | None = None) -> dict[str, WorkerStatus]:
        return {worker.id: worker for worker in self.status(queue).workers}

    def schedules(self) -> Schedules:
        return schedules(self.status(), self.engine.tasks)

    # -- acting ----------------------------------------------------------------------------

    def retry(self, job_id: str) -> bool:
        return self.engine.retry_failed(job_id_from(job_id))

    def cancel(self, job_id: str) -> CancelResult:
        return self.engine.cancel(job_id_from(job_id))

    def run_now(self, job_id: str) -> bool:
        return self.engine.run_now(job_id_from(job_id))

    def retry_all(self, queue: str | None, task: str | None) -> int:
        return self.engine.retry_all_failed(queue, task=task)

    def purge(self, queue: str | None, task: str | None) -> int:
        return self.engine.purge_failed(queue, task=task)

    def pause_periodic(self, task: str, queue: str) -> bool:
        return self.engine.remove_periodic_task(task, queue=queue)

    def resume_periodic(self, task: str, queue: str) -> bool:
        return self.engine.resume_periodic_task(task, queue=queue)

    def pause_queue(self, queue: str) -> bool:
        return self.engine.pause_queue(queue)

    def resume_queue(self, queue: str) -> bool:
        return self.engine.resume_queue(queue)

    def set_limit(self, task: str, queue: str, limit: int | None) -> int | None:
        if limit is not None and limit < 1:
            raise BadRequest("A concurrency limit is a whole number of at least 1.")
        return self.engine.set_concurrency_limit(task, limit, queue=queue)

    def queue_of(self, task: str, queue: str | None) -> str:
        """The queue an action on `task` applies to: the one given, or the attached task's."""
        checked = self.queue(queue)
        if checked is not None:
            return checked
        try:
            return self.engine.tasks.get(task).queue
        except UnknownTask:
            raise BadRequest(
                f"Choose the queue of task {task!r}: this dashboard's engine does not have it "
                "attached, so it cannot tell which queue it runs on."
            ) from None


def job_id_from(text: str) -> str:
    """A job id as stored (a UUID in its canonical form); BadRequest for anything else."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise BadRequest(f"{text!r} is not a job id (a UUID such as {uuid.UUID(int=0)}).") from None


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
