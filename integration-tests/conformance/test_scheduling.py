"""Scheduling: jobs reach the workers of their queue once, with their arguments intact."""

import pytest
from helpers import Ledger, wait_for

from spinach import Batch, Engine, Tasks
from spinach.exc import (
    InvalidArgumentsError,
    InvalidJobSignatureError,
    PayloadTooLargeError,
    UnknownTask,
)
from spinach.job import Job, JobStatus

# Values that Spinach 0.0.25 corrupted on its Redis path (cjson re-encoding).
ROUND_TRIP_CASES = [
    [],
    {},
    [[], {}, [[]], {"a": []}],
    12345678901234567,
    2**53 + 1,
    2**70,
    -(2**63),
    0.1 + 0.2,
    1e-310,
    1.7976931348623157e308,
    "ünïcødé \u2603 \x00",
    {"nested": {"list": [1, 2.5, "x", None, True, False]}},
]


def test_a_scheduled_job_runs_once_with_its_arguments(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()

    @tasks.task(name="compute")
    def compute(a: int, b: int, *, c: str = "") -> None:
        ledger.add((a, b, c))

    spin.attach_tasks(tasks)
    job = spin.schedule(compute, 5, 3, c="x")
    assert isinstance(job, Job) and job.status is JobStatus.QUEUED and job.task_name == "compute"

    spin.start_workers(number=2, block=False)
    assert ledger.wait_for_count(1) == [(5, 3, "x")]
    spin.stop_workers()
    assert ledger.entries == [(5, 3, "x")]


@pytest.mark.parametrize("value", ROUND_TRIP_CASES, ids=repr)
def test_arguments_come_back_exactly_as_given(spin: Engine, ledger: Ledger, value: object) -> None:
    tasks = Tasks()

    @tasks.task(name="echo")
    def echo(positional: object, keyword: object = None) -> None:
        ledger.add((positional, keyword))

    spin.attach_tasks(tasks)
    spin.schedule(echo, value, keyword=value)
    spin.start_workers(number=1, block=False)
    [(positional, keyword)] = ledger.wait_for_count(1)
    assert positional == value and keyword == value
    assert type(positional) is type(value) and type(keyword) is type(value)


def test_tuples_travel_as_lists_as_in_0_0_25(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()
    tasks.add(lambda value: ledger.add(value), name="echo")
    spin.attach_tasks(tasks)
    spin.schedule("echo", (1, (2, 3)))
    spin.start_workers(number=1, block=False)
    assert ledger.wait_for_count(1) == [[1, [2, 3]]]


def test_a_batch_runs_every_job_exactly_once(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="item")
    spin.attach_tasks(tasks)
    batch = Batch()
    for i in range(2000):
        batch.schedule("item", i)
    jobs = spin.schedule_batch(batch)
    assert len(jobs) == 2000 and len({job.id for job in jobs}) == 2000

    spin.start_workers(number=8, block=True, stop_when_queue_empty=True)
    assert sorted(ledger.entries) == list(range(2000))


def test_a_batch_spanning_queues_reaches_each_queue(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(("a", i)), name="on_a", queue="a")
    tasks.add(lambda i: ledger.add(("b", i)), name="on_b", queue="b")
    spin.attach_tasks(tasks)
    batch = Batch()
    for i in range(5):
        batch.schedule("on_a", i)
        batch.schedule("on_b", i)
    spin.schedule_batch(batch)

    spin.start_workers(number=2, queue="a", block=True, stop_when_queue_empty=True)
    assert sorted(ledger.entries) == [("a", i) for i in range(5)]
    assert spin.broker.queue_stats("b").ready == 5


def test_workers_of_one_queue_never_run_jobs_of_another(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()
    tasks.add(lambda: ledger.add("other"), name="other", queue="other")
    tasks.add(lambda: ledger.add("mine"), name="mine", queue="mine")
    spin.attach_tasks(tasks)
    spin.schedule("other")
    spin.schedule("mine")
    spin.start_workers(number=2, queue="mine", block=False)
    ledger.wait_for_count(1)
    spin.stop_workers()
    assert ledger.entries == ["mine"]
    assert spin.broker.queue_stats("other").ready == 1


def test_two_namespaces_on_one_store_do_not_see_each_others_jobs(
    make_broker, namespace: str, ledger: Ledger
) -> None:
    first = Engine(make_broker(), namespace=namespace + "-one")
    second = Engine(make_broker(), namespace=namespace + "-two")
    for engine, label in ((first, "one"), (second, "two")):
        tasks = Tasks()
        tasks.add(lambda label=label: ledger.add(label), name="job")
        engine.attach_tasks(tasks)
    first.schedule("job")
    first.schedule("job")

    second.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert ledger.entries == []
    assert first.broker.queue_stats("spinach").ready == 2
    first.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert ledger.entries == ["one", "one"]


def test_an_idle_worker_is_woken_by_an_enqueue_on_its_queue(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="item")
    spin.attach_tasks(tasks)
    spin.start_workers(number=2, block=False)
    for i in range(20):
        spin.schedule("item", i)
        ledger.wait_for_count(i + 1, timeout=5)
    assert ledger.entries == list(range(20))


def test_an_enqueue_on_one_queue_does_not_wake_workers_of_another(
    make_broker, namespace: str, ledger: Ledger
) -> None:
    # Given an idle worker on queue "quiet" that has made its first fetch
    quiet = Engine(make_broker(), namespace=namespace)
    quiet.start_workers(number=1, queue="quiet", block=False)
    runtime = quiet._runtime
    assert runtime is not None
    wait_for(lambda: runtime.last_fetch is not None, message="the first fetch")
    last_fetch = runtime.last_fetch

    # When jobs are enqueued on queue "busy" and processed by its own worker
    busy = Engine(make_broker(), namespace=namespace)
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="busy", queue="busy")
    busy.attach_tasks(tasks)
    for i in range(10):
        busy.schedule("busy", i)
    busy.start_workers(number=1, queue="busy", block=True, stop_when_queue_empty=True)

    # Then the quiet worker never fetched again
    assert sorted(ledger.entries) == list(range(10))
    assert runtime.last_fetch == last_fetch
    quiet.stop_workers()


def test_a_signature_mismatch_is_refused_and_nothing_is_enqueued(spin: Engine) -> None:
    tasks = Tasks()
    tasks.add(lambda a, b: None, name="two")
    spin.attach_tasks(tasks)
    with pytest.raises(InvalidJobSignatureError, match="two"):
        spin.schedule("two", 1)
    batch = Batch()
    batch.schedule("two", 1, 2)
    batch.schedule("two", 1, 2, 3)
    with pytest.raises(InvalidJobSignatureError):
        spin.schedule_batch(batch)
    assert spin.broker.queue_stats("spinach").ready == 0


def test_an_unknown_task_is_refused_at_schedule_time(spin: Engine) -> None:
    with pytest.raises(UnknownTask, match="nope"):
        spin.schedule("nope")


@pytest.mark.parametrize(
    ("args", "kwargs", "path"),
    [
        ((object(),), {}, r"args\[0\]: object"),
        (([1, {2, 3}],), {}, r"args\[0\]\[1\]: set"),
        ((), {"when": __import__("datetime").datetime(2024, 1, 1)}, r"kwargs\['when'\]: datetime"),
        ((b"bytes",), {}, "bytes"),
        ((float("nan"),), {}, "nan"),
        (({1: "int key"},), {}, "dict key 1"),
    ],
)
def test_arguments_that_are_not_json_data_are_refused_and_nothing_is_enqueued(
    spin: Engine, args: tuple[object, ...], kwargs: dict[str, object], path: str
) -> None:
    tasks = Tasks()
    tasks.add(lambda *a, **k: None, name="any")
    spin.attach_tasks(tasks)
    with pytest.raises(InvalidArgumentsError, match=path):
        spin.schedule("any", *args, **kwargs)
    assert spin.broker.queue_stats("spinach").ready == 0


def test_oversized_arguments_are_refused_and_nothing_is_enqueued(
    make_broker, namespace: str
) -> None:
    spin = Engine(make_broker(), namespace=namespace, max_payload_bytes=10_000)
    tasks = Tasks()
    tasks.add(lambda data: None, name="big")
    spin.attach_tasks(tasks)
    spin.schedule("big", "x" * 9_000)
    with pytest.raises(PayloadTooLargeError, match="10000 bytes"):
        spin.schedule("big", "x" * 10_000)
    assert spin.broker.queue_stats("spinach").ready == 1


def test_the_default_limit_accepts_arguments_of_a_few_hundred_kib(
    spin: Engine, ledger: Ledger
) -> None:
    tasks = Tasks()
    tasks.add(lambda data: ledger.add(len(data)), name="big")
    spin.attach_tasks(tasks)
    spin.schedule("big", "x" * 400_000)
    with pytest.raises(PayloadTooLargeError):
        spin.schedule("big", "x" * 600_000)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.entries == [400_000]
