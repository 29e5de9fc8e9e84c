"""The Sentry integration, with the real sentry-sdk and a transport that keeps what it is sent."""

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from spinach import AbortException, Engine, MemoryBroker, RetryException, Tasks
from spinach.brokers.base import Broker
from spinach.keys import queue_keys
from spinach.retry import ExponentialBackoff
from spinach_worker.asyncio_workers import AsyncioWorkers
from spinach_worker.integrations.sentry import SpinachIntegration

FAST = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=10))


class RecordingTransport(Transport):
    """Keep every envelope item sent, as (type, payload), instead of sending it."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()

    def capture_envelope(self, envelope: Envelope) -> None:
        with self._changed:
            for item in envelope.items:
                payload = item.payload.json
                if item.type is not None and payload is not None:
                    self.items.append((item.type, payload))
            self._changed.notify_all()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self._changed:
            return [payload for item_type, payload in self.items if item_type == kind]

    def wait_for(self, kind: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.of_type(kind)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"Expected {count} {kind} items within {timeout}s: {self.items}")
                self._changed.wait(left)
            return self.of_type(kind)


@pytest.fixture
def spin() -> Iterator[Engine]:
    engine = Engine(MemoryBroker(), namespace=f"sentry-{uuid.uuid4().hex[:8]}")
    yield engine
    engine.stop_workers()


@pytest.fixture
def init_sentry() -> Iterator[Callable[..., RecordingTransport]]:
    """Initialize sentry-sdk with the integration and a recording transport; undo it after."""

    def init(**options: Any) -> RecordingTransport:
        transport = RecordingTransport()
        sentry_sdk.init(
            dsn="https://public@sentry.invalid/1",
            transport=transport,
            integrations=[SpinachIntegration(**options)],
            auto_enabling_integrations=False,
            traces_sample_rate=1.0,
        )
        return transport

    yield init
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def run_until_empty(spin: Engine, tasks: Tasks, threads: int = 2) -> None:
    spin.attach_tasks(tasks)
    spin.start_workers(number=threads, block=True, stop_when_queue_empty=True)


def test_a_job_failing_for_good_is_one_unhandled_error_with_the_job_context(
    spin: Engine, init_sentry: Callable[..., RecordingTransport]
) -> None:
    transport = init_sentry()
    tasks = Tasks()

    @tasks.task(name="compute")
    def compute(a: int, b: int) -> None:
        raise ValueError("cannot compute")

    spin.attach_tasks(tasks)
    job = spin.schedule(compute, 1, b=2)
    run_until_empty(spin, tasks)

    [event] = transport.wait_for("event", 1)
    [exception] = event["exception"]["values"]
    assert exception["type"] == "ValueError"
    assert exception["mechanism"] == {"type": "spinach", "handled": False}
    assert event["tags"]["spinach.task"] == "compute"
    assert event["tags"]["spinach.queue"] == "spinach"
    context = event["contexts"]["spinach"]
    assert context["task"] == "compute"
    assert context["id"] == str(job.id)
    assert context["queue"] == "spinach"
    assert context["namespace"] == spin.namespace
    assert (context["attempt"], context["retries"]) == (1, 0)
    assert "args" not in context and "kwargs" not in context
    assert event["transaction"] == "compute"


def test_arguments_are_in_the_context_only_when_asked(
    spin: Engine, init_sentry: Callable[..., RecordingTransport]
) -> None:
    transport = init_sentry(include_args=True)
    tasks = Tasks()

    @tasks.task(name="compute")
    def compute(a: int, b: int) -> None:
        raise ValueError("cannot compute")

    spin.attach_tasks(tasks)
    spin.schedule(compute, 1, b=2)
    run_until_empty(spin, tasks)

    [event] = transport.wait_for("event", 1)
    assert event["contexts"]["spinach"]["args"] == [1]
    assert event["contexts"]["spinach"]["kwargs"] == {"b": 2}


@pytest.mark.parametrize("send_retries", [False, True])
def test_a_failure_that_is_retried_is_reported_only_with_send_retries(
    spin: Engine, init_sentry: Callable[..., RecordingTransport], send_retries: bool
) -> None:
    transport = init_sentry(send_retries=send_retries)
    tasks = Tasks()
    attempts: list[int] = []

    @tasks.task(name="flaky", max_retries=1, retry_policy=FAST)
    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("try again")

    spin.attach_tasks(tasks)
    spin.schedule(flaky)
    run_until_empty(spin, tasks)

    assert len(attempts) == 2
    transactions = transport.wait_for("transaction", 2)
    assert sorted(t["contexts"]["trace"]["status"] for t in transactions) == [
        "internal_error",
        "ok",
    ]
    events = transport.of_type("event")
    if not send_retries:
        assert events == []
    else:
        [event] = events
        [exception] = event["exception"]["values"]
        assert exception["type"] == "ConnectionError"
        assert exception["mechanism"] == {"type": "spinach", "handled": True}
        assert event["contexts"]["spinach"]["attempt"] == 1


def test_retry_and_abort_exceptions_are_never_reported_as_errors(
    spin: Engine, init_sentry: Callable[..., RecordingTransport]
) -> None:
    transport = init_sentry(send_retries=True)
    tasks = Tasks()
    attempts: list[str] = []

    @tasks.task(name="later", max_retries=1, retry_policy=FAST)
    def later() -> None:
        attempts.append("later")
        if attempts.count("later") == 1:
            raise RetryException("not yet", at=None)

    @tasks.task(name="give_up", max_retries=3)
    def give_up() -> None:
        attempts.append("give_up")
        raise AbortException("nothing to do")

    spin.attach_tasks(tasks)
    spin.schedule(later)
    spin.schedule(give_up)
    run_until_empty(spin, tasks)

    assert sorted(attempts) == ["give_up", "later", "later"]
    transactions = transport.wait_for("transaction", 3)
    assert transport.of_type("event") == []
    statuses = {(t["transaction"], t["contexts"]["trace"]["status"]) for t in transactions}
    assert statuses == {("later", "cancelled"), ("later", "ok"), ("give_up", "cancelled")}


def test_each_job_gets_its_own_transaction_and_scope(
    spin: Engine, init_sentry: Callable[..., RecordingTransport]
) -> None:
    transport = init_sentry()
    tasks = Tasks()

    @tasks.task(name="tagged")
    def tagged(n: int) -> None:
        sentry_sdk.set_tag("n", str(n))  # on this job's scope only
        if n == 2:
            raise KeyError(n)

    spin.attach_tasks(tasks)
    jobs = [spin.schedule(tagged, n) for n in range(4)]
    run_until_empty(spin, tasks, threads=2)

    transactions = transport.wait_for("transaction", 4)
    assert {t["transaction"] for t in transactions} == {"tagged"}
    assert {t["contexts"]["trace"]["op"] for t in transactions} == {"queue.process"}
    assert sorted(t["contexts"]["spinach"]["id"] for t in transactions) == sorted(
        str(job.id) for job in jobs
    )
    assert len({t["contexts"]["trace"]["trace_id"] for t in transactions}) == 4
    n_of_job = {str(job.id): str(n) for n, job in enumerate(jobs)}
    for transaction in transactions:
        assert transaction["tags"]["n"] == n_of_job[transaction["contexts"]["spinach"]["id"]]
    [event] = transport.of_type("event")
    assert event["tags"]["n"] == "2"
    failed = next(t for t in transactions if t["tags"]["n"] == "2")
    assert event["contexts"]["trace"]["trace_id"] == failed["contexts"]["trace"]["trace_id"]
    assert failed["contexts"]["trace"]["status"] == "internal_error"


def test_an_unknown_task_is_reported_outside_any_run_with_the_job_context(
    spin: Engine, init_sentry: Callable[..., RecordingTransport]
) -> None:
    transport = init_sentry()
    producer = Engine(Broker(spin.broker._r), namespace=spin.namespace)  # the same store
    elsewhere = Tasks()

    @elsewhere.task(name="only_in_the_web_app")
    def only_in_the_web_app() -> None:
        pass

    producer.attach_tasks(elsewhere)
    job = producer.schedule(only_in_the_web_app)
    run_until_empty(spin, Tasks())

    [event] = transport.wait_for("event", 1)
    assert event["exception"]["values"][0]["mechanism"]["handled"] is False
    assert event["contexts"]["spinach"]["id"] == str(job.id)
    assert event["tags"]["spinach.task"] == "only_in_the_web_app"
    assert transport.of_type("transaction") == []


def test_the_hooks_do_nothing_once_sentry_runs_without_the_integration(
    spin: Engine, init_sentry: Callable[..., RecordingTransport]
) -> None:
    init_sentry()  # connects the receivers for the whole process
    transport = RecordingTransport()
    sentry_sdk.init(
        dsn="https://public@sentry.invalid/1",
        transport=transport,
        auto_enabling_integrations=False,
        default_integrations=False,
        traces_sample_rate=1.0,
    )
    tasks = Tasks()

    @tasks.task(name="fails")
    def fails() -> None:
        raise ValueError("nobody listens")

    spin.attach_tasks(tasks)
    spin.schedule(fails)
    run_until_empty(spin, tasks)
    assert transport.items == []


def test_periodic_tasks_send_cron_check_ins_when_enabled(
    spin: Engine, init_sentry: Callable[..., RecordingTransport]
) -> None:
    transport = init_sentry(cron_monitors=True)
    tasks = Tasks()
    ran = threading.Event()

    @tasks.task(name="hourly_report", periodicity=timedelta(hours=1))
    def hourly_report() -> None:
        ran.set()

    @tasks.task(name="often", periodicity=timedelta(seconds=30))
    def often() -> None:
        pass

    spin.attach_tasks(tasks)
    # A new periodic task first ticks one period after a worker declares it: declare it here
    # and make its first tick due now, so that the worker creates its job at once.
    spin.broker.register_periodic("spinach", [("hourly_report", 3_600_000)], alive_ms=60_000)
    spin.broker._r.zadd(queue_keys(spin.namespace, "spinach").periodic, {"hourly_report": 0})
    spin.schedule(often)  # a periodic task shorter than a minute: no check-in
    spin.start_workers(number=1, block=False)
    assert ran.wait(10)

    in_progress, done = transport.wait_for("check_in", 2)
    spin.stop_workers()
    assert in_progress["monitor_slug"] == done["monitor_slug"] == "hourly_report"
    assert (in_progress["status"], done["status"]) == ("in_progress", "ok")
    assert in_progress["check_in_id"] == done["check_in_id"]
    assert in_progress["monitor_config"]["schedule"] == {
        "type": "interval",
        "value": 1,
        "unit": "hour",
    }
    assert done["duration"] >= 0
    assert len(transport.of_type("check_in")) == 2


def test_a_failing_periodic_job_checks_in_as_an_error(
    spin: Engine, init_sentry: Callable[..., RecordingTransport]
) -> None:
    transport = init_sentry(cron_monitors=True)
    tasks = Tasks()

    @tasks.task(name="nightly", periodicity=timedelta(days=1))
    def nightly() -> None:
        raise OSError("disk full")

    spin.attach_tasks(tasks)
    spin.schedule(nightly)  # the job a tick would create, without waiting a day
    run_until_empty(spin, tasks)

    in_progress, done = transport.wait_for("check_in", 2)
    assert (in_progress["status"], done["status"]) == ("in_progress", "error")
    assert in_progress["monitor_config"]["schedule"]["unit"] == "day"
    assert len(transport.wait_for("event", 1)) == 1


def test_without_cron_monitors_periodic_tasks_send_no_check_ins(
    spin: Engine, init_sentry: Callable[..., RecordingTransport]
) -> None:
    transport = init_sentry()
    tasks = Tasks()

    @tasks.task(name="nightly", periodicity=timedelta(days=1))
    def nightly() -> None:
        pass

    spin.attach_tasks(tasks)
    spin.schedule(nightly)
    run_until_empty(spin, tasks)
    transport.wait_for("transaction", 1)
    assert transport.of_type("check_in") == []


def test_the_import_path_of_spinach_0025_gives_the_same_integration() -> None:
    from spinach.contrib.sentry_sdk_spinach import SpinachIntegration as Legacy

    assert Legacy is SpinachIntegration


def test_jobs_interleaved_on_the_asyncio_loop_keep_their_own_scopes(
    spin: Engine, init_sentry: Callable[..., RecordingTransport]
) -> None:
    transport = init_sentry(cron_monitors=True)
    tasks = Tasks()

    @tasks.task(name="slow")
    async def slow(n: int) -> None:
        sentry_sdk.set_tag("n", str(n))
        await asyncio.sleep(0.01)  # let the other jobs run meanwhile
        if n == 1:
            raise KeyError(n)

    @tasks.task(name="daily", periodicity=timedelta(days=1))
    async def daily() -> None:
        await asyncio.sleep(0.01)

    spin.attach_tasks(tasks)
    jobs = {str(spin.schedule(slow, n).id): str(n) for n in range(3)}
    spin.schedule(daily)
    spin.start_workers(
        number=4, block=True, stop_when_queue_empty=True, workers_class=AsyncioWorkers
    )

    transactions = transport.wait_for("transaction", 4)
    for transaction in transactions:
        job_id = transaction["contexts"]["spinach"]["id"]
        if transaction["transaction"] == "slow":
            assert transaction["tags"]["n"] == jobs[job_id]
        else:
            assert "n" not in transaction["tags"]
    [event] = transport.of_type("event")
    assert event["tags"]["n"] == "1" and event["contexts"]["spinach"]["task"] == "slow"
    statuses = [c["status"] for c in transport.wait_for("check_in", 2)]
    assert statuses == ["in_progress", "ok"]
