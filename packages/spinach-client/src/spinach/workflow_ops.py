"""The Redis side of workflows, as sans-IO operations: send one, relay the signals of ended
steps, read one back. Shared by the engine, the asyncio client and the worker's relay."""

import uuid
from collections.abc import Sequence
from typing import Any

from spinach import const, operations
from spinach.contract import OutboxDoneReply, WorkflowSignalReply, call
from spinach.inspection import CancelResult, JobInfo
from spinach.keys import queue_keys
from spinach.operations import Scope, checked_keys, job_info, text
from spinach.protocol import PreparedJob
from spinach.sansio import Command, Op, Scripts, script
from spinach.workflow import Plan

#: How long a completed group's state, and a workflow's member list, are kept.
WORKFLOW_KEEP_MS = 7 * 24 * 3600 * 1000

#: Most signals one relay round takes from an outbox.
RELAY_CHUNK = 200

#: Most rounds of one relay call (each round: one outbox read, its signals, their removal).
RELAY_ROUNDS = 50


def send(scope: Scope, plan: Plan, prepared: dict[str, PreparedJob], host: str) -> Op[None]:
    """Create the workflow's jobs and groups: one call per queue, pipelined, retried safely
    (each call carries its idempotency token). `host` is the queue that keeps the member list."""
    queues = sorted({job.queue for job in plan.jobs} | {group.queue for group in plan.groups})
    members = "\x05".join(f"{job.queue}\x04{job.id}" for job in plan.jobs)
    calls = []
    for queue in queues:
        keys = yield from checked_keys(scope, queue, retried="workflow")
        groups: list[Any] = []
        for group in plan.groups:
            if group.queue == queue:
                groups += (group.id, group.total, plan.exits(group.exits))
        jobs: list[Any] = []
        for planned in plan.jobs:
            if planned.queue != queue:
                continue
            job = prepared[planned.id]
            rate = f"{job.rate_interval}\x03{job.rate_key}" if job.rate_interval else ""
            jobs += (
                job.id, job.task, job.max_retries, job.priority, job.result_ttl_ms, rate,
                "1" if planned.held else "", plan.exits(planned.exits), job.payload,
            )  # fmt: skip
        calls.append(
            call(
                "workflow_send",
                keys,
                {
                    "token_ttl_ms": const.ENQUEUE_TOKEN_TTL_MS,
                    "workflow": plan.id,
                    "members": members if queue == host else "",
                    "keep_ms": WORKFLOW_KEEP_MS,
                },
                given={"token": keys.enqueue_token(uuid.uuid4().hex)},
                variadic={"groups": groups, "jobs": jobs},
            )
        )
    yield Scripts(calls, durable=True, retried="workflow")


def relay(scope: Scope, queue: str) -> Op[int]:
    """Apply the signals waiting in `queue`'s outbox, and those they set off in other queues,
    each in its target's queue, then remove them; return how many were applied.

    Safe to run anywhere, any number of times at once: applying a signal twice changes
    nothing, and a signal is removed only once applied.
    """
    applied = 0
    todo = [queue]
    for _ in range(RELAY_ROUNDS):
        if not todo:
            break
        source = todo.pop()
        keys = yield from checked_keys(scope, source)
        entries = yield Command("lrange", (keys.outbox, 0, RELAY_CHUNK - 1))
        if not entries:
            continue
        by_target: dict[str, list[bytes]] = {}
        for entry in entries:
            target = text(entry.split(b"\x04", 2)[1])
            by_target.setdefault(target, []).append(entry)
        keep_done, max_done, _, _ = scope.retention.script_args()
        for target, signals in by_target.items():
            target_keys = yield from checked_keys(scope, target)
            reply = yield from script(
                WorkflowSignalReply,
                call(
                    "workflow_signal",
                    target_keys,
                    {
                        "keep_done_ms": keep_done,
                        "max_done": max_done,
                        "max_results": scope.retention.max_results,
                        "group_ttl_ms": WORKFLOW_KEEP_MS,
                    },
                    variadic={"signals": signals},
                ),
            )
            applied += reply.applied
            if reply.pushed and target not in todo:
                todo.append(target)
        yield from script(
            OutboxDoneReply, call("outbox_done", keys, variadic={"signals": list(entries)})
        )
        if len(entries) == RELAY_CHUNK and source not in todo:
            todo.append(source)
    return applied


def cancel(scope: Scope, queue: str, job_id: str) -> Op[CancelResult]:
    """Remove job `job_id` from `queue` if it has not started; a workflow step that is
    cancelled moves its workflow on at once (its chain stops, its group counts it)."""
    result, signals = yield from operations.cancel(scope, queue, job_id)
    if signals:
        yield from relay(scope, queue)
    return result


def members(scope: Scope, queues: Sequence[str], workflow_id: str) -> Op[list[JobInfo] | None]:
    """The members of workflow `workflow_id`, in the order of its steps (None: unknown)."""
    for queue in queues:
        key = f"{queue_keys(scope.namespace, queue).workflows}:w:{workflow_id}"
        raw = yield Command("get", (key,))
        if raw is None:
            continue
        found = []
        for member in text(raw).split("\x05"):
            member_queue, _, job_id = member.partition("\x04")
            info = yield from job_info(scope, member_queue, job_id)
            found.append(info or _unknown(job_id, member_queue))
        return found
    return None


def _unknown(job_id: str, queue: str) -> JobInfo:
    """A member whose record is gone (finished longer ago than records are kept)."""
    from spinach.job import JobStatus

    return JobInfo(job_id, queue, "", JobStatus.NOT_SET, 0, 0)
