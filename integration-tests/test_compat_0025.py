"""Programs written against Spinach 0.0.25's documented API run unchanged.

The expected signatures below are those of spinach 0.0.25 on PyPI; additions are keyword
arguments with defaults, so every call that worked there still works here.
"""

import inspect
from typing import Any

import pytest

import spinach
from spinach import Engine, MemoryBroker, Tasks, signals

EXPECTED_0025 = {
    Engine.__init__: ["self", "broker", "namespace"],
    Engine.schedule: ["self", "task", "*args", "**kwargs"],
    Engine.schedule_at: ["self", "task", "at", "*args", "**kwargs"],
    Engine.schedule_batch: ["self", "batch"],
    Engine.execute: ["self", "task", "*args", "**kwargs"],
    Engine.attach_tasks: ["self", "tasks"],
    Engine.stop_workers: ["self"],
    Engine.start_workers: [
        "self", "number", "queue", "block", "stop_when_queue_empty", "workers_class",
    ],
    Tasks.__init__: ["self", "queue", "max_retries", "periodicity", "max_concurrency"],
    Tasks.add: ["self", "func", "name", "queue", "max_retries", "periodicity", "max_concurrency"],
    spinach.RetryException.__init__: ["self", "message", "at"],
    spinach.RedisBroker.__init__: ["self", "redis", "enqueue_job_max_retries"],
}  # fmt: skip


def _parameters(func: Any) -> list[str]:
    names = []
    for p in inspect.signature(func).parameters.values():
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        names.append(prefix + p.name)
    return names


@pytest.mark.parametrize("func", EXPECTED_0025, ids=lambda f: f.__qualname__)
def test_the_0_0_25_parameters_come_first_in_the_same_order(func: Any) -> None:
    expected = EXPECTED_0025[func]
    actual = _parameters(func)
    positional = [n for n in expected if not n.startswith("*")]
    assert actual[: len(positional)] == positional
    extra = inspect.signature(func).parameters
    for name in actual[len(positional) :]:
        param = extra[name.lstrip("*")]
        assert (
            name in expected or param.kind == param.KEYWORD_ONLY or param.default is not param.empty
        )


def test_the_0_0_25_defaults_are_kept() -> None:
    start = inspect.signature(Engine.start_workers).parameters
    assert (start["number"].default, start["queue"].default, start["block"].default) == (
        5,
        "spinach",
        True,
    )
    assert inspect.signature(Engine.__init__).parameters["namespace"].default == "spinach"


def test_the_0_0_25_names_are_importable_from_the_same_modules() -> None:
    from spinach.brokers.memory import MemoryBroker as Memory
    from spinach.brokers.redis import RedisBroker as Redis
    from spinach.const import DEFAULT_MAX_RETRIES, DEFAULT_NAMESPACE, DEFAULT_QUEUE
    from spinach.exc import InvalidJobSignatureError, SpinachError, UnknownTask
    from spinach.job import Job, JobStatus
    from spinach.task import AbortException, Batch, RetryException, Task
    from spinach.utils import exponential_backoff
    from spinach.worker import AsyncioWorkers, ThreadWorkers

    assert issubclass(UnknownTask, SpinachError) and issubclass(
        InvalidJobSignatureError, SpinachError
    )
    assert (DEFAULT_QUEUE, DEFAULT_NAMESPACE, DEFAULT_MAX_RETRIES) == ("spinach", "spinach", 0)
    # 0.0.25's members keep their values; CANCELLED is new (Engine.cancel).
    assert [(s.name, s.value) for s in JobStatus] == [
        ("NOT_SET", 0), ("WAITING", 1), ("QUEUED", 2), ("RUNNING", 3), ("SUCCEEDED", 4),
        ("FAILED", 5), ("CANCELLED", 6),
    ]  # fmt: skip
    assert ThreadWorkers is spinach.ThreadWorkers and AsyncioWorkers is spinach.AsyncioWorkers
    assert all(
        [Memory, Redis, Job, AbortException, Batch, RetryException, Task, exponential_backoff]
    )
    assert {s.name for s in (
        signals.job_started, signals.job_finished, signals.job_schedule_retry, signals.job_failed,
        signals.worker_started, signals.worker_terminated,
    )} == {"job_started", "job_finished", "job_schedule_retry", "job_failed", "worker_started",
           "worker_terminated"}  # fmt: skip


def test_a_program_from_the_0_0_25_documentation_runs_unchanged() -> None:
    # The quickstart of Spinach 0.0.25, as documented (with MemoryBroker instead of Redis).
    results: list[int] = []
    spin = Engine(MemoryBroker())

    @spin.task(name="compute")
    def compute(a: int, b: int) -> None:
        results.append(a + b)

    spin.schedule(compute, 5, 3)
    spin.schedule("compute", 1, 1)
    assert spin.execute(compute, 2, 2) is None and results == [4]
    spin.start_workers(stop_when_queue_empty=True)
    assert sorted(results) == [2, 4, 8]


# -- found by running Spinach 0.0.25's own test suite against this package ----------------------


def test_the_datadog_integration_keeps_its_0_0_25_import_and_parameters() -> None:
    from spinach.contrib.datadog import register_datadog, register_datadog_if_module_patched

    assert _parameters(register_datadog) == ["tracer", "namespace", "service"]
    assert inspect.signature(register_datadog).parameters["service"].default == "spinach"
    assert _parameters(register_datadog_if_module_patched) == ["module", "*args", "**kwargs"]


def test_exponential_backoff_returns_a_timedelta_for_retry_exception_at() -> None:
    from datetime import UTC, datetime, timedelta

    from spinach.utils import exponential_backoff

    delay = exponential_backoff(1)
    assert isinstance(delay, timedelta) and timedelta(seconds=3) <= delay <= timedelta(seconds=6)
    # The documented use: the time of a retry.
    spinach.RetryException("later", at=datetime.now(UTC) + exponential_backoff(2))


def test_tasks_task_takes_its_arguments_positionally() -> None:
    tasks = Tasks()

    def send(n: int) -> None:
        pass

    assert tasks.task(send, "send", "mail", 3) is send
    task = tasks.get("send")
    assert (task.name, task.queue, task.max_retries) == ("send", "mail", 3)
    assert _parameters(Tasks.task)[:7] == [
        "self", "func", "name", "queue", "max_retries", "periodicity", "max_concurrency",
    ]  # fmt: skip


def test_a_job_repr_has_the_0_0_25_format() -> None:
    from datetime import UTC, datetime

    from spinach.job import Job

    job = Job("send", "mail", datetime.now(UTC), 0)
    assert repr(job) == f"Job <send NOT_SET {job.id}>"
