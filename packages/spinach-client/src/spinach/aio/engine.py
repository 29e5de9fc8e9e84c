"""AsyncEngine: the Engine's sending and inspection API, awaited, for asyncio applications.

An AsyncEngine wraps the application's Engine: its tasks, namespace, payload limit and
retention are the Engine's, and every job is checked, prepared, traced and read back by the
Engine's own code (spinach.engine, spinach.admin, spinach.operations); only the round trips
to Redis go through redis.asyncio instead of redis-py.
"""

from datetime import datetime, timedelta
from typing import Any

from spinach import admin, const, operations, workflow_ops
from spinach.aio.broker import AsyncRedisBroker
from spinach.brokers.base import MAX_BLOCK_SECONDS
from spinach.engine import (
    Args,
    Engine,
    JobRef,
    Kwargs,
    TaskRef,
    When,
    checked_at,
    checked_delay,
    checked_queue_limit,
    mark_duplicates,
)
from spinach.inspection import CancelResult, JobInfo, JobPage, MinuteCount, NamespaceStatus
from spinach.job import Job
from spinach.keys import validate_queue
from spinach.options import NO_OPTIONS, JobOptions, checked_request
from spinach.protocol import PreparedJob
from spinach.task import Batch
from spinach.workflow import Node, Workflow


class AsyncEngine:
    """The sending and inspection API of `engine`, on an asyncio connection to Redis.

    Workers keep running on the Engine (`spinach-worker`, `start_workers`); a web app awaits
    `schedule()` and friends here. Every method mirrors the Engine's method of the same name:
    same arguments, same checks, same errors, same telemetry.
    """

    def __init__(self, engine: Engine, broker: AsyncRedisBroker) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(f"AsyncEngine wraps a spinach.Engine, got {engine!r}")
        if not isinstance(broker, AsyncRedisBroker):
            raise TypeError(
                f"AsyncEngine needs a spinach.aio.AsyncRedisBroker, got {broker!r} (a sync "
                "broker belongs to the Engine)"
            )
        self._engine = engine
        self._broker = broker
        #: The queues this client added to the namespace's list already.
        self._noted_queues: set[str] = set()

    @property
    def engine(self) -> Engine:
        """The Engine whose tasks, namespace and settings this client uses."""
        return self._engine

    @property
    def broker(self) -> AsyncRedisBroker:
        return self._broker

    @property
    def namespace(self) -> str:
        return self._engine.namespace

    async def close(self) -> None:
        """Close this client's connections to Redis (the Engine's stay as they are)."""
        await self._broker.close()

    # -- sending -----------------------------------------------------------------------------

    async def schedule(self, task: TaskRef, *args: Any, **kwargs: Any) -> Job:
        """Send a job to run as soon as a worker is free (one Redis round trip)."""
        return await self._send_one(task, None, args, kwargs)

    async def schedule_at(self, task: TaskRef, at: datetime, *args: Any, **kwargs: Any) -> Job:
        """Send a job to run at `at` (Redis's clock decides); a naive datetime is UTC."""
        return await self._send_one(task, checked_at(at), args, kwargs)

    async def schedule_in(self, task: TaskRef, delay: timedelta, *args: Any, **kwargs: Any) -> Job:
        """Send a job to run after `delay`, measured by Redis's clock."""
        return await self._send_one(task, checked_delay(delay), args, kwargs)

    async def schedule_with(
        self,
        task: TaskRef,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
        delay: timedelta | float | None = None,
        max_retries: int | float | None = None,
        priority: int | None = None,
        rate_key: str | None = None,
        unique_key: str | None = None,
        unique_until: str | None = None,
        unique_for: timedelta | float | None = None,
        debounce: bool | None = None,
    ) -> Job:
        """Send a job with options of its own (see Engine.schedule_with)."""
        when, call_args, call_kwargs = checked_request(args, kwargs, at, delay)
        options = JobOptions(
            max_retries, unique_key, unique_until, unique_for, debounce, priority, rate_key
        )
        return await self._send_one(task, when, call_args, call_kwargs, options)

    async def schedule_batch(self, batch: Batch) -> list[Job]:
        """Send every job of `batch`: one atomic script call per queue, in one round trip.

        Every job is checked before any is sent, so a bad one leaves the whole batch unsent.
        On a Redis Cluster the calls of different queues are sent concurrently.
        """
        with self._engine._sending_batch(batch) as (jobs, prepared):
            mark_duplicates(jobs, await self._enqueue(prepared))
        return jobs

    async def schedule_workflow(self, workflow: Node) -> Workflow:
        """Send a workflow, as `Engine.schedule_workflow` does."""
        plan, prepared, jobs = self._engine._plan_workflow(workflow)
        await self._broker.run(
            workflow_ops.send(self._engine.broker, plan, prepared, plan.jobs[0].queue)
        )
        return Workflow(plan.id, jobs)

    async def get_workflow(self, workflow: "Workflow | str") -> list[JobInfo] | None:
        """The state of each step of a workflow, as `Engine.get_workflow` gives it."""
        workflow_id = workflow.id if isinstance(workflow, Workflow) else workflow
        return await self._broker.run(self._engine._workflow_members(workflow_id))

    async def _send_one(
        self,
        task: TaskRef,
        when: When,
        args: Args,
        kwargs: Kwargs,
        options: JobOptions = NO_OPTIONS,
    ) -> Job:
        with self._engine._sending_one(task, when, args, kwargs, options) as (job, prepared):
            mark_duplicates([job], await self._enqueue(prepared))
        return job

    async def _enqueue(self, prepared: list[PreparedJob]) -> dict[str, str]:
        scope = self._engine.broker
        return await self._broker.run(operations.enqueue(scope, prepared, self._noted_queues))

    # -- inspection and operations -------------------------------------------------------------

    async def queues(self, only: str | None = None) -> list[str]:
        """The queues of this namespace: those of the attached tasks and every queue used."""
        return await self._broker.run(self._engine._queues_op(only))

    async def get_job(self, job: JobRef) -> JobInfo | None:
        """The current state of a job (by id, or the Job `schedule` returned), or None."""
        return await self._broker.run(self._engine._on_job(admin.find_job_op, job))

    async def result(self, job: JobRef, timeout: float | None = None) -> Any:
        """Wait for what `job` returned, as `Engine.result` does, without blocking the loop."""
        return await self._broker.run(
            self._engine._on_job(
                lambda scope, queues, job_id: admin.result_op(
                    scope, queues, job_id, timeout, MAX_BLOCK_SECONDS
                ),
                job,
            )
        )

    async def cancel(self, job: JobRef) -> CancelResult:
        """Cancel a job (see Engine.cancel): removed if it has not started, else its worker is
        asked to stop it."""
        return await self._broker.run(self._engine._on_job(admin.cancel_op, job))

    async def run_now(self, job: JobRef) -> bool:
        """Make a waiting (delayed) job ready now, ahead of its queue; False if not waiting."""
        return await self._broker.run(self._engine._on_job(admin.run_now_op, job))

    async def pause_queue(self, queue: str = const.DEFAULT_QUEUE) -> bool:
        """Pause `queue` (see Engine.pause_queue); True if it was running."""
        op = operations.pause_queue(self._engine.broker, validate_queue(queue), "pause")
        return await self._broker.run(op)

    async def resume_queue(self, queue: str = const.DEFAULT_QUEUE) -> bool:
        """Resume a paused `queue` and wake its idle workers; True if it was paused."""
        op = operations.pause_queue(self._engine.broker, validate_queue(queue), "resume")
        return await self._broker.run(op)

    async def set_queue_limit(
        self, limit: int | None, queue: str = const.DEFAULT_QUEUE
    ) -> int | None:
        """Let at most `limit` jobs of `queue` run at once (see Engine.set_queue_limit)."""
        checked = checked_queue_limit(limit)
        op = operations.set_queue_limit(self._engine.broker, validate_queue(queue), checked)
        return await self._broker.run(op)

    async def retry_failed(self, job: JobRef) -> bool:
        """Queue a failed job again, same id, fresh attempt budget; False if it cannot be."""
        return await self._broker.run(self._engine._on_job(admin.retry_failed_op, job))

    async def failed_jobs(
        self, queue: str | None = None, *, offset: int = 0, limit: int = 50
    ) -> list[JobInfo]:
        """Jobs of the failed-job store (of `queue`, or of every queue), newest first."""
        op = self._engine._on_queues(admin.failed_jobs_op, queue, offset, limit)
        return await self._broker.run(op)

    async def retry_all_failed(self, queue: str | None = None, *, task: str | None = None) -> int:
        """Queue again every failed job (of `queue` or of every queue; of `task`); how many."""
        return await self._broker.run(
            self._engine._on_queues(admin.retry_all_failed_op, queue, task)
        )

    async def purge_failed(self, queue: str | None = None, *, task: str | None = None) -> int:
        """Delete every failed job (of `queue` or of every queue; of `task`); how many."""
        return await self._broker.run(self._engine._on_queues(admin.purge_failed_op, queue, task))

    async def jobs(
        self,
        state: str,
        queue: str = const.DEFAULT_QUEUE,
        *,
        task: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> JobPage:
        """One page of the jobs of `queue` in `state` (see `Engine.jobs`)."""
        scope = self._engine.broker
        page = admin.jobs_op(scope, validate_queue(queue), state, task, offset, limit)
        return await self._broker.run(page)

    async def throughput(self, queue: str | None = None, minutes: int = 60) -> list[MinuteCount]:
        """Jobs processed and failed per minute (of `queue`, or of every queue), oldest first."""
        return await self._broker.run(self._engine._on_queues(admin.throughput_op, queue, minutes))

    async def status(self, queue: str | None = None) -> NamespaceStatus:
        """Counts, oldest ready job, workers, periodic tasks and limits: of `queue`, or all."""
        return await self._broker.run(self._engine._on_queues(admin.status_op, queue))

    def __repr__(self) -> str:
        return f"<AsyncEngine namespace={self.namespace!r}>"
