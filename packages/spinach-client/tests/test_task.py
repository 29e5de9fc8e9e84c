"""Tasks, the registry and batches keep Spinach 0.0.25's defaults and checks."""

import math
from datetime import timedelta

import pytest

from spinach import Batch, RetryException, Tasks
from spinach.exc import InvalidNameError, UnknownTask
from spinach.retry import ExponentialBackoff
from spinach.task import Task


def noop() -> None:
    pass


def test_task_defaults_are_those_of_0_0_25() -> None:
    tasks = Tasks()
    tasks.add(noop, name="noop")
    task = tasks.get("noop")
    assert (task.queue, task.max_retries, task.periodicity, task.max_concurrency) == (
        "spinach",
        0,
        None,
        None,
    )


def test_registry_defaults_apply_to_its_tasks() -> None:
    tasks = Tasks(queue="mail", max_retries=3)
    tasks.add(noop, name="noop")
    tasks.add(noop, name="other", queue="bulk", max_retries=1)
    assert (tasks.get("noop").queue, tasks.get("noop").max_retries) == ("mail", 3)
    assert (tasks.get("other").queue, tasks.get("other").max_retries) == ("bulk", 1)


def test_the_decorator_keeps_the_function_callable_and_resolvable() -> None:
    tasks = Tasks()

    @tasks.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == 3
    assert tasks.get(add).name == "add" and tasks.get(tasks.get("add")).name == "add"


def test_task_takes_its_settings_positionally_in_0_0_25_order() -> None:
    tasks = Tasks()
    period = timedelta(minutes=5)

    def tick() -> None:
        pass

    assert tasks.task(tick, "tick", "mail", 2, period, 1) is tick
    task = tasks.get(tick)
    assert (task.name, task.queue, task.max_retries, task.periodicity, task.max_concurrency) == (
        "tick", "mail", 2, period, 1,
    )  # fmt: skip


def test_task_given_a_name_where_the_function_goes_says_how_to_write_it() -> None:
    with pytest.raises(TypeError, match=r"@tasks.task\(name='send'\)"):
        Tasks().task("send")  # type: ignore[call-overload]


def test_a_task_needs_a_unique_name() -> None:
    tasks = Tasks()
    with pytest.raises(ValueError, match="name"):
        tasks.add(noop)
    tasks.add(noop, name="x")
    with pytest.raises(ValueError, match="already exists"):
        tasks.add(noop, name="x")


def test_an_unknown_task_says_how_to_fix_it() -> None:
    with pytest.raises(UnknownTask, match="attached"):
        Tasks().get("missing")


@pytest.mark.parametrize("queue", ["_private", "{tag}", "with space"])
def test_bad_queue_names_are_refused(queue: str) -> None:
    with pytest.raises(InvalidNameError):
        Tasks().add(noop, name="t", queue=queue)
    with pytest.raises(InvalidNameError):
        Task(noop, "t", "", 0, None)


def test_max_concurrency_requires_retries_as_in_0_0_25() -> None:
    with pytest.raises(ValueError, match="max_retries must be set"):
        Tasks().add(noop, name="t", max_concurrency=1)
    with pytest.raises(ValueError, match="greater than zero"):
        Tasks().add(noop, name="t", max_retries=1, max_concurrency=0)


def test_unlimited_retries_are_accepted() -> None:
    tasks = Tasks()
    tasks.add(noop, name="t", max_retries=math.inf)
    assert tasks.get("t").max_retries == math.inf


def test_serialize_is_the_sorted_json_of_0_0_25() -> None:
    task = Task(noop, "t", "q", 2, timedelta(minutes=1), 3)
    assert task.serialize() == (
        '{"max_concurrency": 3, "max_retries": 2, "name": "t", "periodicity": 60, "queue": "q"}'
    )


def test_a_retry_policy_can_be_set_per_task() -> None:
    policy = ExponentialBackoff(base=timedelta(seconds=1), cap=timedelta(seconds=4))
    tasks = Tasks()
    tasks.add(noop, name="t", max_retries=2, retry_policy=policy)
    assert tasks.get("t").retry_policy is policy
    with pytest.raises(TypeError, match="retry_policy"):
        tasks.add(noop, name="u", retry_policy=object())  # type: ignore[arg-type]


def test_scheduling_from_an_unattached_registry_says_what_to_do() -> None:
    tasks = Tasks()
    tasks.add(noop, name="t")
    with pytest.raises(RuntimeError, match="attach_tasks"):
        tasks.schedule("t")


def test_batch_collects_jobs_until_scheduled() -> None:
    batch = Batch()
    batch.schedule("a", 1)
    batch.schedule_in("b", timedelta(seconds=1), x=2)
    assert len(batch) == 2


def test_retry_exception_refuses_a_non_datetime_time() -> None:
    with pytest.raises(TypeError, match="datetime"):
        RetryException("later", at=5)  # type: ignore[arg-type]


def test_a_periodic_task_must_be_callable_without_arguments() -> None:
    with pytest.raises(ValueError, match="without arguments"):
        Tasks().add(lambda user_id: None, name="t", periodicity=timedelta(seconds=1))
    Tasks().add(lambda user_id=1: None, name="t", periodicity=timedelta(seconds=1))
