"""The Engine: where tasks are attached, jobs scheduled and workers started."""

import importlib
import logging
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from spinach import admin, const, operations, telemetry, workflow_ops
from spinach.arguments import check_arguments
from spinach.brokers.base import MAX_BLOCK_SECONDS, Broker
from spinach.envelope import Envelope, encode
from spinach.exc import PayloadTooLargeError, WorkerNotInstalledError
from spinach.ids import new_job_id, new_job_ids
from spinach.inspection import CancelResult, JobInfo, JobPage, MinuteCount, NamespaceStatus
from spinach.job import Job, JobStatus
from spinach.keys import validate_queue
from spinach.operations import Scope
from spinach.options import NO_OPTIONS, JobOptions, checked_priority, checked_request
from spinach.protocol import PreparedJob
from spinach.rate import checked_rate_key
from spinach.retention import Retention
from spinach.sansio import Op
from spinach.task import Batch, Task, Tasks
from spinach.unique import derived_key
from spinach.utils import now_utc, to_epoch_ms, utc, wall_ms
from spinach.workflow import Node, Plan, Workflow, compile_workflow

if TYPE_CHECKING:
    from spinach_worker.runtime import WorkerRuntime

logger = logging.getLogger(__name__)

TaskRef = str | Callable[..., Any] | Task
JobRef = str | uuid.UUID | Job
#: When a job is due: now (None), at a datetime, or after a delay.
When = datetime | timedelta | None
Args = tuple[Any, ...]
Kwargs = dict[str, Any]
T = TypeVar("T")


class Engine:
    """Spinach's entry point: one per application and namespace.

    `max_payload_bytes` caps the size of one encoded job (arguments included); larger jobs are
    refused at schedule time, before anything reaches Redis. `retention` says how long records
    of finished jobs and the failed-job store are kept (workers apply it; see `Retention`).
    """

    def __init__(
        self,
        broker: Broker,
        namespace: str = const.DEFAULT_NAMESPACE,
        *,
        max_payload_bytes: int = const.DEFAULT_MAX_PAYLOAD_BYTES,
        retention: Retention | None = None,
    ) -> None:
        self._broker = broker
        self._broker.namespace = namespace
        if retention is not None:
            if not isinstance(retention, Retention):
                raise TypeError(f"retention must be a spinach.Retention, got {retention!r}")
            self._broker.retention = retention
        self._namespace = namespace
        self._tasks = Tasks()
        self.task = self._tasks.task
        self.max_payload_bytes = max_payload_bytes
        self._runtime: WorkerRuntime | None = None

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def broker(self) -> Broker:
        return self._broker

    @property
    def tasks(self) -> Tasks:
        """Every task this engine knows."""
        return self._tasks

    def attach_tasks(self, tasks: Tasks) -> None:
        """Make the tasks of `tasks` known to this engine; a task of the same name is replaced."""
        if tasks._spin is not None and tasks._spin is not self:
            logger.warning("Tasks already attached to another Engine")
        self._tasks.update(tasks)
        tasks._spin = self

    # -- inspection and operations ---------------------------------------------------------

    def queues(self, only: str | None = None) -> list[str]:
        """The queues of this namespace: those of the attached tasks and every queue used.

        With `only`, just that queue (its name checked).
        """
        return self._broker.run(self._queues_op(only))

    def _queues_op(self, only: str | None = None) -> Op[list[str]]:
        if only is not None:
            return [validate_queue(only)]
        known = yield from operations.known_queues(self._broker)
        return sorted({task.queue for task in self._tasks} | set(known))

    def _on_job(self, op: Callable[[Scope, list[str], str], Op[T]], job: JobRef) -> Op[T]:
        """Run admin operation `op` on the queues that may hold `job` (its own queue first)."""
        if isinstance(job, Job):
            queues = yield from self._queues_op()
            job_id, queues = job.job_id, [job.queue, *(q for q in queues if q != job.queue)]
        else:
            if isinstance(job, uuid.UUID):  # Job.id
                job = str(job)
            if not isinstance(job, str) or not job:
                raise TypeError(f"Expected a job id (str or UUID) or a Job, got {job!r}")
            job_id, queues = job, (yield from self._queues_op())
        return (yield from op(self._broker, queues, job_id))

    def _on_queues(self, op: Callable[..., Op[T]], only: str | None, *args: Any) -> Op[T]:
        """Run admin operation `op` on the queues of the namespace (or on queue `only`)."""
        queues = yield from self._queues_op(only)
        return (yield from op(self._broker, queues, *args))

    def get_job(self, job: JobRef) -> JobInfo | None:
        """The current state of a job (by id, or the Job `schedule` returned), or None.

        None means no queue knows it: never sent, or finished longer ago than the retention.
        """
        return self._broker.run(self._on_job(admin.find_job_op, job))

    def result(self, job: JobRef, timeout: float | None = None) -> Any:
        """Wait for what `job` returned (a job that keeps its result: see `store_result`).

        Blocks until the job ends, for up to `timeout` seconds (None: without end), without
        polling Redis. Raises `JobFailedError` (carrying the remote error and traceback) when
        it failed for good, `JobCancelledError` when it was cancelled, `ResultTimeout` when it
        did not end in time, and `NoResultError` when it keeps no result or its result expired.
        """
        block = getattr(self._broker, "max_block_seconds", MAX_BLOCK_SECONDS)
        return self._broker.run(
            self._on_job(
                lambda scope, queues, job_id: admin.result_op(
                    scope, queues, job_id, timeout, block
                ),
                job,
            )
        )

    def cancel(self, job: JobRef) -> CancelResult:
        """Cancel a job: one that has not started is removed atomically and never runs.

        The result is true only then. A running job's worker is told within moments to stop
        it (the result says REQUESTED): the task sees `JobCancelled` raised in it (asyncio: it
        is cancelled; cooperative code may check `job.cancelled`), and the job ends as
        cancelled, never retried, unless its run succeeded before the stop reached it. See
        the time limits and cancel page of the docs.
        """
        return self._broker.run(self._on_job(admin.cancel_op, job))

    def failed_jobs(
        self, queue: str | None = None, *, offset: int = 0, limit: int = 50
    ) -> list[JobInfo]:
        """Jobs of the failed-job store (of `queue`, or of every queue), newest first."""
        return self._broker.run(self._on_queues(admin.failed_jobs_op, queue, offset, limit))

    def retry_failed(self, job: JobRef) -> bool:
        """Queue a failed job again, same id, fresh attempt budget; False if it cannot be."""
        return self._broker.run(self._on_job(admin.retry_failed_op, job))

    def retry_all_failed(self, queue: str | None = None, *, task: str | None = None) -> int:
        """Queue again every failed job (of `queue`, or of every queue; of `task` only, if
        given); return how many."""
        return self._broker.run(self._on_queues(admin.retry_all_failed_op, queue, task))

    def purge_failed(self, queue: str | None = None, *, task: str | None = None) -> int:
        """Delete every failed job (of `queue`, or of every queue; of `task` only, if given)
        for good; return how many."""
        return self._broker.run(self._on_queues(admin.purge_failed_op, queue, task))

    def jobs(
        self,
        state: str,
        queue: str = const.DEFAULT_QUEUE,
        *,
        task: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> JobPage:
        """One page of the jobs of `queue` in `state`: "ready" (higher priority first, then
        oldest first), "delayed" (soonest first), "running", "failed" or "finished" (newest
        first), or "held" (held back by their task's concurrency limit; task by task, each
        oldest first).

        A page is one range of one Redis list, never a scan of the queue. With `task`, at most
        a bounded window of jobs is looked at per call: the page may hold fewer jobs than
        `limit`, and its `next_offset` says where to continue.
        """
        page = admin.jobs_op(self._broker, validate_queue(queue), state, task, offset, limit)
        return self._broker.run(page)

    def throughput(self, queue: str | None = None, minutes: int = 60) -> list[MinuteCount]:
        """Jobs processed and failed per minute (of `queue`, or of every queue), oldest first.

        Counted by the scripts as outcomes are recorded; the counts expire after two hours.
        """
        return self._broker.run(self._on_queues(admin.throughput_op, queue, minutes))

    def run_now(self, job: JobRef) -> bool:
        """Make a waiting (delayed) job ready now, ahead of its queue; False if not waiting."""
        return self._broker.run(self._on_job(admin.run_now_op, job))

    def pause_queue(self, queue: str = const.DEFAULT_QUEUE) -> bool:
        """Pause `queue`: its workers start none of its jobs from their next fetch on.

        Running jobs finish and are recorded; jobs keep arriving and waiting. The pause is kept
        in Redis, so it outlives worker restarts, until `resume_queue`. True if it was running.
        """
        return self._broker.run(
            operations.pause_queue(self._broker, validate_queue(queue), "pause")
        )

    def resume_queue(self, queue: str = const.DEFAULT_QUEUE) -> bool:
        """Resume a paused `queue` and wake its idle workers; True if it was paused."""
        return self._broker.run(
            operations.pause_queue(self._broker, validate_queue(queue), "resume")
        )

    def set_queue_limit(self, limit: int | None, queue: str = const.DEFAULT_QUEUE) -> int | None:
        """Let at most `limit` jobs of `queue` run at once, across every worker (None: lift it).

        Kept in Redis, like a pause, until changed; jobs beyond it wait in the queue and start
        as running ones end. Returns the limit it replaces.
        """
        checked = checked_queue_limit(limit)
        return self._broker.run(
            operations.set_queue_limit(self._broker, validate_queue(queue), checked)
        )

    def status(self, queue: str | None = None) -> NamespaceStatus:
        """Counts, oldest ready job, workers, periodic tasks and limits: of `queue`, or all."""
        return self._broker.run(self._on_queues(admin.status_op, queue))

    def execute(self, task: TaskRef, *args: Any, **kwargs: Any) -> Any:
        """Run a task right here, synchronously, and return its result."""
        return self._tasks.get(task).func(*args, **kwargs)

    def schedule(self, task: TaskRef, *args: Any, **kwargs: Any) -> Job:
        """Send a job to run as soon as a worker is free (one Redis round trip)."""
        return self._send_one(task, None, args, kwargs)

    def schedule_at(self, task: TaskRef, at: datetime, *args: Any, **kwargs: Any) -> Job:
        """Send a job to run at `at`; a naive datetime is UTC.

        Redis's clock decides when `at` has come, so the job never starts early whatever the
        clocks of the hosts involved.
        """
        return self._send_one(task, checked_at(at), args, kwargs)

    def schedule_in(self, task: TaskRef, delay: timedelta, *args: Any, **kwargs: Any) -> Job:
        """Send a job to run after `delay`, measured by Redis's clock."""
        return self._send_one(task, checked_delay(delay), args, kwargs)

    def schedule_with(
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
        store_result: bool | None = None,
        result_ttl: timedelta | float | None = None,
    ) -> Job:
        """Send a job with options of its own; each option left out is the task's.

        The task's arguments come as `args` and `kwargs`, so that no keyword of the task is
        taken for an option. `at` (a naive datetime is UTC) or `delay` (a timedelta or seconds)
        set the due time. With a unique key (given here, or derived from the arguments of a
        task declared ``unique=True``), a job already live with the same key is returned
        instead of a new one (`Job.duplicate` then says so). `priority` (-10 to 10, higher
        first; default: the task's) orders the job in its queue; `rate_key` names whom the
        task's rate limit counts the job for (one tenant, one account). See the flow control
        page. `store_result` and `result_ttl` keep what the job returns (see `result`).
        """
        when, call_args, call_kwargs = checked_request(args, kwargs, at, delay)
        options = JobOptions(
            max_retries,
            unique_key,
            unique_until,
            unique_for,
            debounce,
            priority,
            rate_key,
            store_result,
            result_ttl,
        )
        return self._send_one(task, when, call_args, call_kwargs, options)

    def _send_one(
        self,
        task_ref: TaskRef,
        when: When,
        args: Args,
        kwargs: Kwargs,
        options: JobOptions = NO_OPTIONS,
    ) -> Job:
        with self._sending_one(task_ref, when, args, kwargs, options) as (job, prepared):
            mark_duplicates([job], self._broker.enqueue(prepared))
        return job

    @contextmanager
    def _sending_one(
        self,
        task_ref: TaskRef,
        when: When,
        args: Args,
        kwargs: Kwargs,
        options: JobOptions = NO_OPTIONS,
    ) -> Iterator[tuple[Job, list[PreparedJob]]]:
        """Check and prepare one job in its PRODUCER span; the caller sends it in the block."""
        task = self._tasks.get(task_ref)
        job_id = new_job_id()
        with telemetry.sending(lambda: task.queue, 1, job_id, task.name) as headers:
            job, prepared = self._prepare(
                task, when, args, kwargs, now_utc(), wall_ms(), job_id, headers, options
            )
            yield job, [prepared]

    def schedule_batch(self, batch: Batch) -> list[Job]:
        """Send every job of `batch`: one atomic script call per queue, in one round trip.

        Every job is checked before any is sent, so a bad one leaves the whole batch unsent.
        """
        with self._sending_batch(batch) as (jobs, prepared):
            mark_duplicates(jobs, self._broker.enqueue(prepared))
        return jobs

    def schedule_workflow(self, workflow: Node) -> Workflow:
        """Send a workflow (a Step, Chain or Group, nested at will): one atomic script call
        per queue it involves, in one round trip. Its first steps are queued now; each other
        step starts when the steps before it end (see the workflows page)."""
        plan, prepared, jobs = self._plan_workflow(workflow)
        self._broker.run(workflow_ops.send(self._broker, plan, prepared, plan.jobs[0].queue))
        return Workflow(plan.id, jobs)

    def _plan_workflow(self, workflow: Node) -> tuple[Plan, dict[str, PreparedJob], list[Job]]:
        """Compile and check a workflow: every step is checked before anything is sent."""
        plan = compile_workflow(workflow, lambda step: self._tasks.get(step.task).queue)
        prepared: dict[str, PreparedJob] = {}
        jobs: list[Job] = []
        queues = ",".join(sorted({planned.queue for planned in plan.jobs}))
        with telemetry.sending(lambda: queues, len(plan.jobs)) as headers:
            now, created = now_utc(), wall_ms()
            for planned in plan.jobs:
                step = planned.step
                task = self._tasks.get(step.task)
                if task.unique or task.periodicity is not None:
                    raise ValueError(
                        f"Task {task.name!r} cannot be a workflow step: a step cannot be "
                        "unique or periodic"
                    )
                job, ready = self._prepare(
                    task, None, step.args, step.kwargs, now, created, planned.id, headers,
                    step.options, workflow=plan.id, prior=planned.held,
                )  # fmt: skip
                if planned.held:
                    job.status = JobStatus.NOT_SET  # it waits for the steps before it
                prepared[planned.id] = ready
                jobs.append(job)
        return plan, prepared, jobs

    def get_workflow(self, workflow: "Workflow | str") -> list[JobInfo] | None:
        """The state of each step of a workflow (by id, or as `schedule_workflow` returned
        it), in the order of its steps; None when no queue knows it."""
        workflow_id = workflow.id if isinstance(workflow, Workflow) else workflow
        return self._broker.run(self._workflow_members(workflow_id))

    def _workflow_members(self, workflow_id: str) -> Op[list[JobInfo] | None]:
        queues = yield from self._queues_op()
        return (yield from workflow_ops.members(self._broker, queues, workflow_id))

    @contextmanager
    def _sending_batch(self, batch: Batch) -> Iterator[tuple[list[Job], list[PreparedJob]]]:
        """Check and prepare every job of `batch` in one PRODUCER span; the caller sends them."""
        jobs: list[Job] = []
        prepared: list[PreparedJob] = []
        pending = batch.jobs_to_create

        def destination() -> str:
            return ",".join(sorted({self._tasks.get(entry[0]).queue for entry in pending}))

        with telemetry.sending(destination, len(pending)) as headers:
            now, created = now_utc(), wall_ms()
            ids = new_job_ids(len(pending))
            for (task, at, args, kwargs, options), job_id in zip(pending, ids, strict=True):
                job, ready = self._prepare(
                    task, at, args, kwargs, now, created, job_id, headers, options
                )
                jobs.append(job)
                prepared.append(ready)
            yield jobs, prepared

    def _prepare(
        self,
        task_ref: TaskRef,
        when: datetime | timedelta | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        now: datetime,
        created_ms: int,
        job_id: str,
        headers: dict[str, str] | None = None,
        options: JobOptions = NO_OPTIONS,
        *,
        workflow: str = "",
        prior: bool = False,
    ) -> tuple[Job, PreparedJob]:
        """Check one job and encode it. A workflow step (`workflow`) that follows another
        (`prior`) gets that step's result as its first argument, checked as a placeholder."""
        task = self._tasks.get(task_ref)
        task.checker.check((None, *args) if prior else args, kwargs)
        check_arguments(task.name, args, kwargs)
        max_retries: int | float = task.max_retries
        wire_max_retries = task.wire_max_retries
        unique_key = unique_rule = ""
        priority = task.priority
        rate_interval = task.rate_limit.wire if task.rate_limit else ""
        rate_key = ""
        result_ttl_ms = task.result_ttl_ms
        if options is not NO_OPTIONS or task.unique:
            where = f"Job of task {task.name!r}"
            result_ttl_ms = options.result_ttl_ms(task.name, result_ttl_ms)
            if options.priority is not None:
                priority = checked_priority(where, options.priority)
            if options.rate_key is not None:
                rate_key = checked_rate_key(where, options.rate_key)
                if not rate_interval:
                    raise ValueError(
                        f"{where}: rate_key needs a task with a rate limit: declare the task "
                        'with rate_limit="<count>/<period>"'
                    )
            if options.max_retries is not None:
                max_retries = options.retries(
                    task.name, task.max_retries, task.max_concurrency is not None
                )
                wire_max_retries = None if max_retries == math.inf else int(max_retries)
            derived = derived_key(task.name, args, kwargs) if task.unique else None
            unique_key, unique_rule = options.unique(task.name, derived, task.unique_rule)

        at_ms = delay_ms = 0
        if when is None:
            at, status = now, JobStatus.QUEUED
        else:
            if isinstance(when, timedelta):
                delay_ms = max(0, -(-when // timedelta(milliseconds=1)))
                at = now + when
            else:
                at = utc(when)
                at_ms = to_epoch_ms(at)
            status = JobStatus.QUEUED if at <= now else JobStatus.WAITING
        job = Job._scheduled(task.name, task.queue, at, max_retries, status, args, kwargs, job_id)
        envelope = Envelope(
            id=job_id,
            task=task.name,
            queue=task.queue,
            args=args,
            kwargs=kwargs,
            max_retries=wire_max_retries,
            at=at_ms,
            created=created_ms,
            headers=headers or {},
            result_ttl=result_ttl_ms,
            workflow=workflow,
        )
        payload = encode(envelope)
        if len(payload) > self.max_payload_bytes:
            raise PayloadTooLargeError(
                f"Cannot schedule task {task.name!r}: its job encodes to {len(payload)} bytes, "
                f"over the limit of {self.max_payload_bytes} bytes. Store large data elsewhere "
                "and pass a reference, or raise Engine(max_payload_bytes=...)."
            )
        budget = -1 if wire_max_retries is None else wire_max_retries
        prepared = PreparedJob(
            task.name,
            task.queue,
            job_id,
            at_ms,
            delay_ms,
            budget,
            payload,
            unique_key,
            unique_rule,
            priority,
            rate_interval,
            rate_key,
            result_ttl_ms,
        )
        return job, prepared

    def periodic_job(self, task: Task) -> PreparedJob:
        """The job a tick of periodic `task` creates (no arguments, as in Spinach 0.0.25)."""
        return self._prepare(task, None, (), {}, now_utc(), wall_ms(), new_job_id())[1]

    def _task_and_queue(self, task: TaskRef, queue: str | None) -> tuple[str, str]:
        """A task's name and queue: from the attached task, or as given (admin tools)."""
        if queue is not None:
            if not isinstance(task, str):
                task = self._tasks.get(task).name
            return task, validate_queue(queue)
        resolved = self._tasks.get(task)
        return resolved.name, resolved.queue

    def remove_periodic_task(self, task: TaskRef, *, queue: str | None = None) -> bool:
        """Take a periodic task off the schedule, even while live workers still declare it.

        It stays off until `resume_periodic_task`; remove it from the code as well so that a
        later resume does not bring it back. Returns whether it was scheduled. With `queue`,
        `task` may be the name of a task this engine does not have attached.
        """
        name, on = self._task_and_queue(task, queue)
        return bool(self._broker.periodic_control(on, "remove", [name]))

    def resume_periodic_task(self, task: TaskRef, *, queue: str | None = None) -> bool:
        """Let live workers that declare a removed periodic task schedule it again."""
        name, on = self._task_and_queue(task, queue)
        return bool(self._broker.periodic_control(on, "resume", [name]))

    def set_concurrency_limit(
        self, task: TaskRef, limit: int | None, *, queue: str | None = None
    ) -> int | None:
        """Override, at runtime, how many jobs of `task` may run at once across all workers.

        The override outlives worker restarts (a worker start applies the limits declared in
        code, never over an override). None lifts the override: the code's limit, if any,
        applies again. Returns the limit now in force. With `queue`, `task` may be the name
        of a task this engine does not have attached.
        """
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise ValueError("A concurrency limit must be a positive int, or None to lift it")
        name, on = self._task_and_queue(task, queue)
        return self._broker.set_limits(on, "override", [(name, limit)])[0]

    def start_workers(
        self,
        number: int = const.DEFAULT_WORKER_NUMBER,
        queue: str | Sequence[str | tuple[str, int]] = const.DEFAULT_QUEUE,
        block: bool = True,
        stop_when_queue_empty: bool = False,
        workers_class: Any = None,
        *,
        lease_seconds: float = const.DEFAULT_LEASE_SECONDS,
        shutdown_timeout: float | None = None,
        health_port: int | None = None,
        health_host: str = "0.0.0.0",
        prefetch: int | None = None,
    ) -> None:
        """Run jobs of `queue` on `number` workers (threads by default); needs spinach-worker.

        `queue` is one queue name, or a list of queues that share the workers: in strict order
        (``["high", "default"]``: a queue gets threads only while those before it have no
        ready job), or by weight (``["high:5", "default:1"]`` or ``[("high", 5), ...]``: busy
        queues share the threads in proportion). ValueError names a malformed list.

        With `block`, return only once the workers stopped: on SIGTERM or Ctrl-C, or when the
        queues are empty if `stop_when_queue_empty` (no job ready, delayed or running here).

        `lease_seconds`: how long a running job stays reserved to this worker without a
        heartbeat; a dead worker's jobs are taken over by others after it (shorter recovers
        sooner, longer tolerates longer pauses). `shutdown_timeout`: how long a stop waits for
        running jobs (None: until they finish); jobs still running then are handed back if they
        may run again, or left to lease recovery (reported failed) if they run at most once.
        `health_port`: serve HTTP /livez and /readyz on that port of `health_host` for probes.
        `prefetch`: jobs fetched ahead of the threads, so that a thread that finishes finds
        its next job here instead of waiting for a fetch. None (the default): as many as the
        threads finish in about 5 ms by their recent run times (up to 6 per thread, 256 in
        all), so only short jobs are fetched ahead, and the jobs fetched ahead go back to their
        queue once the runs grow longer; an int: that many, always; 0: none. Their leases are
        held and renewed meanwhile and a stop hands them back, but if the process is killed,
        prefetched at-most-once jobs are reported failed without having run.
        """
        if self._runtime is not None and not self._runtime.stopped:
            raise RuntimeError("Workers are already running")
        runtime_module = _import_worker("spinach_worker.runtime")
        runtime = runtime_module.WorkerRuntime(
            self,
            number=number,
            queue=queue,
            stop_when_queue_empty=stop_when_queue_empty,
            workers_class=workers_class,
            lease_seconds=lease_seconds,
            shutdown_timeout=shutdown_timeout,
            health_port=health_port,
            health_host=health_host,
            prefetch=prefetch,
        )
        runtime.start()
        self._runtime = runtime
        if block:
            try:
                runtime.run_until_stopped()
            finally:
                self._runtime = None

    def stop_workers(self) -> None:
        """Stop the workers: no new fetch, unstarted jobs handed back, running ones finished."""
        runtime = self._runtime
        if runtime is None:
            return
        runtime.stop()
        runtime.join()
        self._runtime = None


def _import_worker(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is not None and e.name.startswith("spinach_worker"):
            raise WorkerNotInstalledError(
                "Running jobs needs the worker package: pip install spinach-worker"
            ) from None
        raise


def mark_duplicates(jobs: list[Job], existing: dict[str, str]) -> None:
    """Turn each job not sent, because a live job holds its unique key, into that live job."""
    if not existing:
        return
    for job in jobs:
        holder = existing.get(job.job_id)
        if holder is not None:
            job._id, job._uuid = holder, None  # an id of another client may not be a UUID
            job.duplicate = True
            job.status = JobStatus.NOT_SET  # the live job's own state: ask get_job


def checked_queue_limit(limit: int | None) -> int | None:
    """A queue limit, refused unless it is None or a whole number of at least 1."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"A queue limit is a whole number or None, got {limit!r}")
    if limit < 1:
        raise ValueError(f"A queue limit must be at least 1 (None lifts it), got {limit}")
    return limit


def checked_at(at: datetime) -> datetime:
    """`schedule_at`'s due time, refused unless it is a datetime."""
    if not isinstance(at, datetime):
        raise TypeError(f"schedule_at needs a datetime, got {at!r}")
    return at


def checked_delay(delay: timedelta) -> timedelta:
    """`schedule_in`'s delay, refused unless it is a timedelta."""
    if not isinstance(delay, timedelta):
        raise TypeError(f"schedule_in needs a timedelta, got {delay!r}")
    return delay
