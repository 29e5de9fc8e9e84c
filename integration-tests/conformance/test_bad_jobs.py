"""Jobs that cannot run go to failure handling with a clear error; the worker keeps running."""

import logging
from collections.abc import Callable

import pytest
import redis
from helpers import Ledger, corrupt_envelope, job_records

from spinach import Engine, Tasks, signals
from spinach.brokers.base import Broker
from spinach.contract import call
from spinach.exc import SchemaMismatchError
from spinach.keys import queue_keys
from spinach_lua import SCHEMA_VERSION


def test_a_job_for_a_task_this_worker_does_not_know_fails_and_others_still_run(
    make_broker, namespace: str, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a web app that knows a task the worker does not
    web = Engine(make_broker(), namespace=namespace)
    web_tasks = Tasks()
    web_tasks.add(lambda: None, name="only_in_web")
    web_tasks.add(lambda i: None, name="shared")
    web.attach_tasks(web_tasks)
    worker = Engine(make_broker(), namespace=namespace)
    worker_tasks = Tasks()
    worker_tasks.add(lambda i: ledger.add(i), name="shared")
    worker.attach_tasks(worker_tasks)
    failed: list[str] = []

    @signals.job_failed.connect_via(namespace)
    def on_failed(sender: str, job, err) -> None:  # type: ignore[no-untyped-def]
        failed.append(f"{job.task_name}: {type(err).__name__}")

    web.schedule("shared", 1)
    web.schedule("only_in_web")
    web.schedule("shared", 2)

    with caplog.at_level(logging.ERROR, logger="spinach.worker"):
        worker.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.entries == [1, 2]
    assert failed == ["only_in_web: UnknownJobTask"]
    assert any("only_in_web" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "garbage",
    [
        b"not json",
        b'{"v":"1","id":3}',
        b'{"v":"9","id":"x"}',
        b'{"v":"1","id":"x","task":"item","queue":"spinach","at":99999999999999999}',
    ],
)
def test_a_corrupt_payload_is_removed_with_an_error_and_others_still_run(
    spin: Engine,
    raw: "redis.Redis",
    ledger: Ledger,
    caplog: pytest.LogCaptureFixture,
    garbage: bytes,
) -> None:
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="item")
    spin.attach_tasks(tasks)
    spin.schedule("item", 1)
    job = spin.schedule("item", 2)
    spin.schedule("item", 3)
    corrupt_envelope(raw, spin.namespace, job.job_id, garbage)

    with caplog.at_level(logging.ERROR, logger="spinach.worker"):
        spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.entries == [1, 3]
    assert any(str(job.id) in r.getMessage() for r in caplog.records)
    assert spin.broker.queue_stats("spinach").running == 0


def test_data_of_another_schema_is_refused_with_a_clear_error(
    spin: Engine, raw: "redis.Redis", make_broker: Callable[[], Broker]
) -> None:
    tasks = Tasks()
    tasks.add(lambda: None, name="job")
    spin.attach_tasks(tasks)
    spin.schedule("job")
    # The queue's data now says another version wrote it (an older or newer deployment).
    raw.set(queue_keys(spin.namespace, "spinach").schema, "999")

    # A client or a worker that starts now refuses it before touching anything.
    other = Engine(make_broker(), namespace=spin.namespace)
    other.attach_tasks(tasks)
    with pytest.raises(SchemaMismatchError, match=rf"schema 999.*schema {SCHEMA_VERSION}"):
        other.schedule("job")
    from spinach_worker.runtime import WorkerStopped

    with pytest.raises((WorkerStopped, SchemaMismatchError), match="schema 999"):
        spin.start_workers(number=1, block=True)  # a worker checks again as it starts
    assert len(job_records(raw, spin.namespace)) == 1


def test_scripts_missing_from_the_store_are_reloaded(
    spin: Engine, raw: "redis.Redis", ledger: Ledger
) -> None:
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="item")
    spin.attach_tasks(tasks)
    spin.schedule("item", 1)
    raw.script_flush()
    spin.schedule("item", 2)
    raw.script_flush()
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.entries == [1, 2]


def _enqueue_call(spin: Engine, token: str, job_id: str, payload: bytes) -> list[object]:
    """Send one enqueue script call by hand, as a client retrying after a lost reply would."""
    keys = queue_keys(spin.namespace, "spinach")
    one = call(
        "enqueue",
        keys,
        {"token_ttl_ms": 60_000, "now_ms": 0},
        given={"token": keys.enqueue_token(token)},
        variadic={"tasks": ["t"], "batch": [job_id, "1", payload]},
    )
    spin.broker.check_schema("spinach")
    return spin.broker._scripts(one)


def test_an_enqueue_call_sent_twice_is_applied_once(spin: Engine) -> None:
    payload = b'{"v":"1","id":"job-1","task":"t","queue":"spinach"}'
    first = _enqueue_call(spin, "fixed", "job-1", payload)
    second = _enqueue_call(spin, "fixed", "job-1", payload)
    assert first[:2] == [0, 1] and second == [1, b""]  # b"": the first run named no live job
    assert spin.broker.queue_stats("spinach").ready == 1


def test_a_job_id_already_in_the_queue_is_not_enqueued_twice(spin: Engine) -> None:
    for token in ("a", "b"):
        _enqueue_call(spin, token, "job-1", b"{}")
    assert spin.broker.queue_stats("spinach").ready == 1


def test_a_job_whose_arguments_no_longer_fit_its_task_fails_and_others_still_run(
    make_broker, namespace: str, ledger: Ledger
) -> None:
    # Given a job sent by an older version of the app, with the task's old signature
    old = Engine(make_broker(), namespace=namespace)
    old_tasks = Tasks()
    old_tasks.add(lambda a, b: None, name="change")
    old_tasks.add(lambda i: None, name="steady")
    old.attach_tasks(old_tasks)
    old.schedule("change", 1, 2)
    old.schedule("steady", 7)

    # When the worker runs the new version, where the task takes one argument
    new = Engine(make_broker(), namespace=namespace)
    new_tasks = Tasks()
    new_tasks.add(lambda a: ledger.add(("change", a)), name="change")
    new_tasks.add(lambda i: ledger.add(("steady", i)), name="steady")
    new.attach_tasks(new_tasks)
    failed: list[str] = []

    @signals.job_failed.connect_via(namespace)
    def on_failed(sender: str, job, err) -> None:  # type: ignore[no-untyped-def]
        failed.append(f"{job.task_name}: {type(err).__name__}: {err}")

    new.start_workers(number=1, block=True, stop_when_queue_empty=True)

    # Then that job fails with the reason, and the other job runs
    assert ledger.entries == [("steady", 7)]
    assert (
        len(failed) == 1 and failed[0].startswith("change: TypeError") and "argument" in failed[0]
    )
