"""Workflows: chains pass results on, groups run in parallel and call back once they all end."""

import threading
from datetime import timedelta
from typing import Any

import pytest
from helpers import Ledger

from spinach import Chain, Engine, Group, Step, Tasks
from spinach.job import JobStatus
from spinach.retry import ExponentialBackoff

FAST = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=20))
OTHER = "other"


def _tasks(ledger: Ledger) -> Tasks:
    tasks = Tasks()

    @tasks.task(name="number")
    def number(n: int) -> int:
        ledger.add(("number", n))
        return n

    @tasks.task(name="add", queue=OTHER)  # another queue: signals cross queues (and slots)
    def add(total: int, n: int) -> int:
        ledger.add(("add", total, n))
        return total + n

    @tasks.task(name="total", store_result=True)
    def total(values: list[int]) -> int:
        ledger.add(("total", values))
        return sum(values)

    @tasks.task(name="summary")
    def summary(counts: dict[str, int], label: str) -> None:
        ledger.add(("summary", label, counts))

    @tasks.task(name="fails", max_retries=1, retry_policy=FAST)
    def fails(prior: Any = None) -> None:
        ledger.add(("fails",))
        raise ValueError("broken step")

    @tasks.task(name="after", store_result=True)
    def after(prior: Any) -> None:
        ledger.add(("after", prior))

    return tasks


def _counts(succeeded: int, failed: int, cancelled: int) -> dict[str, int]:
    """What an on_complete callback is given."""
    return {"succeeded": succeeded, "failed": failed, "cancelled": cancelled}


def _run(spin: Engine) -> None:
    spin.start_workers(number=3, queue=["spinach", OTHER], block=True, stop_when_queue_empty=True)


def test_a_chain_passes_each_result_to_the_next_step_across_queues(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    flow = spin.schedule_workflow(Chain(Step("number", 1), Step("add", 10), Step("add", 100)))
    assert [job.status for job in flow.jobs] == [
        JobStatus.QUEUED, JobStatus.NOT_SET, JobStatus.NOT_SET,
    ]  # fmt: skip
    held = spin.get_job(flow.jobs[1])
    assert held is not None and held.status is JobStatus.WAITING
    assert held.waiting_for == "the steps before it in its workflow"
    _run(spin)
    assert ledger.entries == [("number", 1), ("add", 1, 10), ("add", 11, 100)]
    members = spin.get_workflow(flow)
    assert members is not None
    assert [info.status for info in members] == [JobStatus.SUCCEEDED] * 3
    assert {info.workflow for info in members} == {flow.id}


def test_a_group_runs_its_members_then_its_callbacks_once(spin: Engine, ledger: Ledger) -> None:
    spin.attach_tasks(_tasks(ledger))
    flow = spin.schedule_workflow(
        Group(
            Step("number", 1),
            Chain(Step("number", 2), Step("add", 3)),
            Step("number", 4),
            on_success=Step("total"),
            on_complete=Step("summary", "done"),
        )
    )
    _run(spin)
    assert ledger.entries.count(("total", [1, 5, 4])) == 1
    assert (
        ledger.entries.count(("summary", "done", {"succeeded": 3, "failed": 0, "cancelled": 0}))
        == 1
    )
    total = next(job for job in flow.jobs if job.task_name == "total")
    assert spin.result(total, timeout=5) == 10


def test_a_chain_of_groups_gives_the_next_step_the_list_of_results(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    flow = spin.schedule_workflow(
        Chain(
            Step("number", 5),
            Group(Step("add", 1), Step("add", 2)),
            Step("total"),
        )
    )
    _run(spin)
    assert ledger.entries.count(("add", 5, 1)) == ledger.entries.count(("add", 5, 2)) == 1
    assert spin.result(flow.jobs[-1], timeout=5) == 13


def test_a_failed_step_stops_the_rest_of_its_chain_and_marks_it(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    flow = spin.schedule_workflow(Chain(Step("number", 1), Step("fails"), Step("after")))
    _run(spin)
    assert ledger.entries == [("number", 1), ("fails",), ("fails",)]  # retried, then failed
    members = spin.get_workflow(flow)
    assert members is not None
    assert [info.status for info in members] == [
        JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED,
    ]  # fmt: skip
    stopped = members[2]
    assert stopped.error_type == "spinach.WorkflowStopped"
    assert f"job {flow.jobs[1].job_id} failed: builtins.ValueError: broken step" in (
        stopped.error_message or ""
    ) or "broken step" in (stopped.error_message or "")


def test_a_group_with_a_failed_member_completes_but_does_not_succeed(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    flow = spin.schedule_workflow(
        Chain(
            Group(
                Step("number", 1),
                Step("fails"),
                on_success=Step("total"),
                on_complete=Step("summary", "end"),
            ),
            Step("after"),
        )
    )
    _run(spin)
    assert ledger.entries.count(("summary", "end", _counts(1, 1, 0))) == 1
    assert not [entry for entry in ledger.entries if entry[0] in ("total", "after")]
    states = {job.task_name: spin.get_job(job).status for job in flow.jobs}  # type: ignore[union-attr]
    assert states["total"] is states["after"] is JobStatus.CANCELLED


def test_a_cancelled_member_counts_as_done_for_completion(spin: Engine, ledger: Ledger) -> None:
    spin.attach_tasks(_tasks(ledger))
    flow = spin.schedule_workflow(
        Group(
            Chain(Step("number", 1), Step("add", 2)),
            Step("number", 3),
            on_complete=Step("summary", "end"),
        )
    )
    held = flow.jobs[1]  # the add of the chain, held until its number ends
    assert spin.cancel(held)
    _run(spin)
    assert ledger.entries.count(("summary", "end", _counts(1, 0, 1))) == 1
    assert ("add", 1, 2) not in ledger.entries


def test_a_step_that_cannot_take_the_prior_result_is_refused_at_send_time(
    spin: Engine, ledger: Ledger
) -> None:
    spin.attach_tasks(_tasks(ledger))
    with pytest.raises(Exception, match="number"):
        spin.schedule_workflow(Chain(Step("number", 1), Step("number", 2)))
    assert spin.status().queues == [] or all(q.ready == 0 for q in spin.status().queues)


def test_signals_applied_by_several_relays_at_once_count_once(spin: Engine, ledger: Ledger) -> None:
    """Relays race for the same signals (each applies what it read, then removes it): a
    group still counts each member once and calls back once, with every result."""
    spin.attach_tasks(_tasks(ledger))
    for g in range(10):
        spin.schedule_workflow(
            Group(*(Step("number", g * 10 + n) for n in range(4)), on_success=Step("total"))
        )
    stop = threading.Event()

    def race() -> None:
        while not stop.is_set():
            for queue in ("spinach", OTHER):
                spin.broker.relay(queue)

    racers = [threading.Thread(target=race) for _ in range(3)]
    for racer in racers:
        racer.start()
    try:
        _run(spin)
    finally:
        stop.set()
        for racer in racers:
            racer.join()
    totals = sorted(entry[1] for entry in ledger.entries if entry[0] == "total")
    assert totals == [[g * 10 + n for n in range(4)] for g in range(10)]
