"""AsyncioWorkers: run ``async def`` tasks as coroutines on one event-loop thread.

At most `num_workers` jobs run concurrently on the loop. A plain function task is run in the
loop's default thread pool rather than blocking the loop (Spinach 0.0.25 called it on the loop,
then failed the job while awaiting its result).
"""

import asyncio
import collections
import inspect
import logging
import threading
import time
from typing import Any

from spinach import running, signals
from spinach.job import Job
from spinach.protocol import Outcome
from spinach.task import Task
from spinach_worker import execution, telemetry
from spinach_worker.interrupts import Run
from spinach_worker.workers import NOT_STARTED, BaseWorkers

logger = logging.getLogger("spinach.worker")


class AsyncioWorkers(BaseWorkers):
    """Run jobs as coroutines on a thread named ``<namespace>-asyncio-worker``."""

    def __init__(self, num_workers: int, namespace: str) -> None:
        super().__init__(num_workers, namespace)
        self._pending: collections.deque[tuple[Job, Task]] = collections.deque()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_loop, name=f"{namespace}-asyncio-worker", daemon=True
        )
        self._thread.start()
        self._ready.wait()

    def _run_loop(self) -> None:
        name = threading.current_thread().name
        signals.worker_started.send(self._namespace, worker_name=name)
        try:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()
            signals.worker_terminated.send(self._namespace, worker_name=name)

    async def _main(self) -> None:
        self._wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self._ready.set()
        consumers = [
            asyncio.create_task(self._consume(f"{self._namespace}-coroutine-{n}"))
            for n in range(1, self._num_workers + 1)
        ]
        await self._stop.wait()
        self._wakeup.set()
        await asyncio.gather(*consumers)

    async def _consume(self, name: str) -> None:
        while True:
            while not self._pending:
                if self._stop.is_set():
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            try:
                job, task = self._pending.popleft()
            except IndexError:
                continue
            if self._pending:
                self._wakeup.set()  # let another consumer take the next one
            if not self.vouches(job):
                self._skip(job)
                continue
            stop = self._begin(job, task)
            if stop is None:
                self._done(job, execution.cancelled(job, self._namespace, NOT_STARTED))
                continue
            self._current[name] = (job, time.time_ns() // 1_000_000)
            job._reporter = self.progress
            outcome = await self._run(job, task, stop)
            self._end(stop)  # never taken over: a coroutine is stopped on the loop only
            del self._current[name]
            if self.progress is not None and self.progress.unsettled(job):
                await asyncio.to_thread(self.progress.settle, job)  # its last report first
            self._done(job, outcome)

    async def _run(self, job: Job, task: Task, stop: Run) -> Outcome:
        execution.current_task.set(task)  # for hooks; the next job of this consumer replaces it
        running.set_current(job)  # for the task's own code (spinach.current_job)
        consumer = asyncio.current_task()
        assert consumer is not None
        stop.on_loop(self._loop, consumer)
        try:
            with telemetry.processing(job) as span:
                started = execution.start(job, self._namespace)
                error: BaseException | None = None
                value: Any = None
                try:
                    try:
                        stop.enter()
                        if inspect.iscoroutinefunction(task.func):
                            value = await task.func(*job.task_args, **job.task_kwargs)
                        else:
                            value = await asyncio.to_thread(
                                task.func, *job.task_args, **job.task_kwargs
                            )
                    finally:
                        stop.leave()
                        if stop.loop_cancelled:
                            # Our own cancel, done with however the task took it (raised,
                            # swallowed or turned into another error): the consumer goes on.
                            consumer.uncancel()
                except BaseException as e:  # noqa: BLE001 - a task must never kill the loop
                    error = execution.stopped_error(stop, e)
                outcome = execution.finish(
                    job, task, self._namespace, error, started, self.vouches, value
                )
                telemetry.finished(span, job, outcome, error, time.monotonic() - started)
            return outcome
        except BaseException as e:
            logger.exception("Unexpected error while running %s", job)
            return execution.failure(job.job_id, e)

    def _push(self, job: Job, task: Task) -> None:
        self._pending.append((job, task))
        self._loop.call_soon_threadsafe(self._wakeup.set)

    def _pop_newest(self, count: int) -> list[Job]:
        jobs: list[Job] = []
        while len(jobs) < count:
            try:
                jobs.append(self._pending.pop()[0])
            except IndexError:
                break
        return jobs

    def _pop_all(self) -> list[Job]:
        jobs: list[Job] = []
        while True:
            try:
                jobs.append(self._pending.popleft()[0])
            except IndexError:
                return jobs

    def stop(self, timeout: float | None = None) -> bool:
        self._stopping = True
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._deadlines.stop()
        self.out_queue.put(None)
        return not self._thread.is_alive()
