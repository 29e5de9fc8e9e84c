"""AsyncioWorkers: coroutine tasks on an event-loop thread, with the same delivery rules."""

import asyncio
import threading

from helpers import Ledger

from spinach import AsyncioWorkers, Engine, Tasks


def test_coroutine_tasks_run_concurrently_on_one_event_loop_thread(
    spin: Engine, ledger: Ledger
) -> None:
    tasks = Tasks()
    running = 0
    peak = 0

    @tasks.task(name="sleepy")
    async def sleepy(i: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        ledger.add((i, threading.current_thread().name))

    spin.attach_tasks(tasks)
    for i in range(10):
        spin.schedule(sleepy, i)
    spin.start_workers(
        number=5, block=True, stop_when_queue_empty=True, workers_class=AsyncioWorkers
    )
    assert sorted(i for i, _ in ledger.entries) == list(range(10))
    assert {name for _, name in ledger.entries} == {f"{spin.namespace}-asyncio-worker"}
    assert peak == 5


def test_a_plain_function_task_runs_off_the_event_loop(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()
    tasks.add(lambda: ledger.add(threading.current_thread().name), name="plain")
    spin.attach_tasks(tasks)
    spin.schedule("plain")
    spin.start_workers(
        number=2, block=True, stop_when_queue_empty=True, workers_class=AsyncioWorkers
    )
    assert len(ledger) == 1 and ledger.entries[0] != f"{spin.namespace}-asyncio-worker"


def test_a_failing_coroutine_is_retried_and_never_stops_the_loop(
    spin: Engine, ledger: Ledger
) -> None:
    from datetime import timedelta

    from spinach.retry import ExponentialBackoff

    tasks = Tasks()

    @tasks.task(
        name="flaky",
        max_retries=1,
        retry_policy=ExponentialBackoff(timedelta(milliseconds=10), timedelta(milliseconds=10)),
    )
    async def flaky(i: int) -> None:
        ledger.add(i)
        raise KeyboardInterrupt

    spin.attach_tasks(tasks)
    for i in range(3):
        spin.schedule(flaky, i)
    spin.start_workers(
        number=2, block=True, stop_when_queue_empty=True, workers_class=AsyncioWorkers
    )
    assert sorted(ledger.entries) == [0, 0, 1, 1, 2, 2]
