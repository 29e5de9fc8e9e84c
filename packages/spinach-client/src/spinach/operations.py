"""The client side of the broker, once for both clients: each operation as a sans-IO `Op`.

Each function builds its script calls (through spinach.contract) or commands, yields them and
reads the replies into results; `Broker` runs them on redis-py, `spinach.aio` on
redis.asyncio. `scope` says which namespace (and retention) an operation works in.
"""

import contextlib
import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import msgspec
from redis.exceptions import OutOfMemoryError

from spinach import const, ids
from spinach.contract import (
    Call,
    CancelReply,
    EnqueueReply,
    FailedPageReply,
    FailedPurgeReply,
    FailedRetryReply,
    JobPageReply,
    JobStateReply,
    QueueControlReply,
    QueueStatsReply,
    RunNowReply,
    ThroughputReply,
    call,
    parse,
)
from spinach.envelope import decode
from spinach.exc import BrokerFullError, SchemaMismatchError
from spinach.inspection import CancelResult, JobInfo, done_info, record_info
from spinach.keys import QueueKeys, cancel_channel, queue_keys, queues_key
from spinach.protocol import PreparedJob, QueueStats, WorkerInfo, decode_worker_info
from spinach.redis_clock import RedisClock
from spinach.results import parse_stored
from spinach.retention import Retention
from spinach.retrying import TRANSIENT_ERRORS
from spinach.sansio import Command, Op, Scripts, script
from spinach_lua import SCHEMA_VERSION

T = TypeVar("T")

#: Most jobs sent in one script call; a larger batch is split, each part still atomic.
ENQUEUE_CHUNK = 10_000

#: The states `job_page` lists.
PAGE_STATES = ("ready", "delayed", "running", "failed", "finished", "held")

#: Entries one SSCAN or HSCAN step asks for.
SCAN_COUNT = 1000

#: The backoff of a retried request (first delay, cap in seconds): an enqueue's retries.
RETRY_BACKOFF = (0.1, 2.0)


class Scope(Protocol):
    """The namespace an operation works in, the retention its scripts apply, and the queues
    whose schema it checked already."""

    @property
    def namespace(self) -> str: ...

    @property
    def retention(self) -> Retention: ...

    @property
    def schema_checked(self) -> set[str]: ...

    @property
    def redis_clock(self) -> RedisClock: ...


def checked_keys(scope: Scope, queue: str, retried: str = "") -> Op[QueueKeys]:
    """The keys of `queue`, once its data is known to be of this installation's schema.

    The first call on a queue records the schema if none is (SET NX) and refuses data of
    another one. The scripts never check again: this schema's keys carry its version (see
    spinach.keys), so no script of one schema ever meets data of another. `retried`: the
    check is retried on connection errors as the request it precedes is (it is idempotent).
    """
    keys = queue_keys(scope.namespace, queue)
    if queue in scope.schema_checked:
        return keys
    check = Command("set", (keys.schema, SCHEMA_VERSION), {"nx": True, "get": True}, retried)
    stored = yield check
    if stored is not None and text(stored) != SCHEMA_VERSION:
        raise SchemaMismatchError(
            f"Redis data of queue {queue!r} of namespace {scope.namespace!r} uses Spinach "
            f"schema {text(stored)}, but this installation uses schema {SCHEMA_VERSION}: run "
            "the same spinach-lua version everywhere, or drain the queue with the old version "
            "first (see the upgrade notes of the migration page)"
        )
    scope.schema_checked.add(queue)
    return keys


@dataclass(frozen=True, slots=True)
class PeriodicInfo:
    """A periodic task of a queue as Redis schedules it."""

    task: str
    #: Its next tick, ms of Redis time (None while removed by an operator).
    next_ms: int | None
    period_ms: int | None
    #: Removed by an operator (`remove_periodic_task`) until resumed.
    paused: bool
    #: Whether a live worker vouches for it now (only those tick).
    alive: bool


def _on_queue(
    scope: Scope, queue: str, reply_type: type[T], name: str, args: dict[str, Any] | None = None
) -> Op[T]:
    """Run script `name` on the keys of `queue`, with `args`; return its typed reply."""
    keys = yield from checked_keys(scope, queue)
    return (yield from script(reply_type, call(name, keys, args)))


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _meta(job: PreparedJob, task_number: int) -> str:
    """The enqueue script's compact form of a job's task, due time, retry budget, priority,
    result lifetime, rate limit and keys."""
    if (
        job.at_ms == job.delay_ms == job.max_retries == job.priority == job.result_ttl_ms == 0
        and not (job.unique_key or job.rate_interval)
    ):
        return str(task_number)
    meta = f"{task_number}:{job.at_ms}:{job.delay_ms}:{job.max_retries}:{job.priority}:"
    meta += f"{job.result_ttl_ms}:"
    meta += job.rate_interval
    if job.unique_key:
        meta += f":{job.unique_rule}:{job.unique_key}"
    if job.rate_key:
        meta += f"\x03{job.rate_key}"
    return meta


# -- sending ---------------------------------------------------------------------------------


def enqueue(scope: Scope, jobs: Sequence[PreparedJob], noted: set[str]) -> Op[dict[str, str]]:
    """Send jobs, one atomic and idempotent script call per queue (and per chunk).

    Retried on connection errors: each call carries a token, so a call whose reply was lost
    is not applied twice. `noted` holds the queues already added to the namespace's list.
    Returns, for each job not sent because a live job holds its unique key, that job's id.
    """
    by_queue: dict[str, list[PreparedJob]] = {}
    for job in jobs:
        by_queue.setdefault(job.queue, []).append(job)
    if not noted.issuperset(by_queue):
        yield from note_queues(scope, by_queue, noted)
    clock = scope.redis_clock
    checked = scope.schema_checked
    try:
        calls, queues = [], []
        for queue, queued in by_queue.items():
            if queue in checked:  # the common case, without a generator
                keys = queue_keys(scope.namespace, queue)
            else:
                keys = yield from checked_keys(scope, queue, retried="enqueue")
            chunks = _enqueue_calls(keys, queued, clock.estimate_ms(queue))
            calls += chunks
            queues += [queue] * len(chunks)
        if not calls:
            return {}
        sent = time.time() * 1000
        replies = yield Scripts(calls, durable=True, retried="enqueue")
        received = time.time() * 1000
    except OutOfMemoryError as e:
        raise BrokerFullError(
            f"Redis is out of memory and refuses new jobs ({e}); nothing was enqueued. "
            "Raise maxmemory, or let workers drain the queues."
        ) from None
    existing: dict[str, str] = {}
    for queue, raw in zip(queues, replies, strict=True):
        if raw[0] == 1:  # a resent call that had run: its first run's pairs, joined by NULs
            pairs = text(raw[1]).split("\0") if raw[1] else []
        else:
            reply = parse("enqueue", EnqueueReply, raw)
            if reply.clock:
                clock.observe(queue, reply.clock, sent, received)
            if not reply.existing:
                continue
            pairs = [text(value) for value in reply.existing]
        existing.update(zip(pairs[::2], pairs[1::2], strict=True))
    return existing


def _enqueue_calls(keys: QueueKeys, queued: list[PreparedJob], now_ms: int) -> list[Call]:
    """The enqueue script calls of the jobs of one queue, ENQUEUE_CHUNK jobs at most each.

    `now_ms`: Redis's time as this client estimates it (0: none), the jobs' queued time.
    """
    calls = []
    for start in range(0, len(queued), ENQUEUE_CHUNK):
        chunk = queued[start : start + ENQUEUE_CHUNK]
        numbers: dict[str, int] = {}
        for job in chunk:
            numbers.setdefault(job.task, len(numbers) + 1)
        flat: list[Any] = []
        for job in chunk:
            flat += (job.id, _meta(job, numbers[job.task]), job.payload)
        calls.append(
            call(
                "enqueue",
                keys,
                {"token_ttl_ms": const.ENQUEUE_TOKEN_TTL_MS, "now_ms": now_ms},
                given={"token": keys.enqueue_token(ids.new_call_token())},
                variadic={"tasks": list(numbers), "batch": flat},
            )
        )
    return calls


def note_queues(scope: Scope, queues: Iterable[str], noted: set[str]) -> Op[None]:
    """Add queues to the namespace's list of queues (once per queue and `noted` set)."""
    new = [queue for queue in queues if queue not in noted]
    if not new:
        return
    try:
        yield Command("sadd", (queues_key(scope.namespace), *new))
    except (*TRANSIENT_ERRORS, OutOfMemoryError):
        return  # noted by a later call; the caller's own call reports the outage
    noted.update(new)


# -- reading a queue -------------------------------------------------------------------------


def queue_stats(scope: Scope, queue: str) -> Op[QueueStats]:
    """Count the jobs of `queue` by state; say how long its oldest ready job has waited.

    The wait counts from when the job was queued (Redis time; retried from the failed store
    counts as queued again), or from its due time for a scheduled job.
    """
    reply = yield from _on_queue(scope, queue, QueueStatsReply, "queue_stats")
    age = None
    if reply.oldest_id is not None and reply.oldest_queued_ms >= 0:
        since = reply.oldest_queued_ms
        if reply.oldest_envelope:
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                since = max(since, decode(reply.oldest_envelope).at)
        age = max(0.0, (reply.now_ms - since) / 1000)
    return QueueStats(
        ready=reply.ready,
        delayed=reply.delayed,
        running=reply.running,
        oldest_ready_id=None if reply.oldest_id is None else text(reply.oldest_id),
        failed=reply.failed,
        oldest_ready_age=age,
        paused=bool(reply.paused),
        max_running=None if reply.max_running < 0 else reply.max_running,
    )


def _scan(method: str, key: str) -> Op[list[Any]]:
    """Every entry of a set (`sscan`) or hash (`hscan`, as pairs), a step at a time."""
    cursor = 0
    found: list[Any] = []
    while True:
        cursor, entries = yield Command(method, (key, cursor), {"count": SCAN_COUNT})
        found += entries.items() if isinstance(entries, dict) else entries
        if not cursor:
            return found


def known_queues(scope: Scope) -> Op[list[str]]:
    """The queues of this namespace that clients and workers have used, sorted."""
    found = yield from _scan("sscan", queues_key(scope.namespace))
    return sorted({text(queue) for queue in found})


#: Why a ready job cannot start now, as job_state says it, in words (JobInfo.waiting_for).
_HELD = {
    "paused": "its queue is paused",
    "queue_limit": "a free slot of its queue's running limit",
    "task_limit": "a free slot of its task's concurrency limit",
    "rate_limit": "its turn under its task's rate limit",
}


def job_info(scope: Scope, queue: str, job_id: str) -> Op[JobInfo | None]:
    """What `queue` knows of job `job_id`, or None if it does not know it."""
    reply = yield from _on_queue(scope, queue, JobStateReply, "job_state", {"id": job_id})
    kind = text(reply.kind)
    info = None
    if kind == "job" and reply.record is not None:
        info = record_info(job_id, queue, reply.record, reply.due_ms)
        held = _HELD.get(text(reply.held))
        if held:
            info = dataclasses.replace(info, waiting_for=held)
    elif kind == "done" and reply.done_record:
        info = done_info(job_id, queue, reply.done_record)
    if info is not None and reply.result:
        stored = parse_stored(reply.result)
        info = dataclasses.replace(
            info, stores_result=True, result_state=stored.state, result=stored.value
        )
    return info


def cancel(scope: Scope, queue: str, job_id: str) -> Op[tuple[CancelResult, int]]:
    """Remove job `job_id` from `queue` if it has not started, else ask its worker to stop it;
    return the result and how many
    workflow signals the cancel pushed (see `spinach.workflow_ops.cancel`, which relays them)."""
    keep_done_ms, max_done, _, _ = scope.retention.script_args()
    limits = {
        "id": job_id,
        "keep_done_ms": keep_done_ms,
        "max_done": max_done,
        "max_results": scope.retention.max_results,
    }
    reply = yield from _on_queue(scope, queue, CancelReply, "cancel", limits)
    outcome = text(reply.outcome)
    if outcome == "requested":
        # Its worker listens: it stops the job within moments. Were the message lost (the
        # worker reconnecting), its next lease renewal sees the record's mark.
        yield Command("publish", (cancel_channel(scope.namespace), job_id))
    return (
        CancelResult.NOT_FOUND if outcome == "unknown" else CancelResult(outcome),
        reply.signals,
    )


def run_now(scope: Scope, queue: str, job_id: str) -> Op[bool]:
    """Make a waiting job of `queue` ready now, ahead of the others; False if not waiting."""
    reply = yield from _on_queue(scope, queue, RunNowReply, "run_now", {"id": job_id})
    return bool(reply.moved)


def pause_queue(scope: Scope, queue: str, action: str) -> Op[bool]:
    """Pause or resume `queue` (action 'pause' or 'resume'); True if its state changed."""
    args = {"action": action, "limit": 0}
    reply = yield from _on_queue(scope, queue, QueueControlReply, "queue_control", args)
    return bool(reply.changed)


def set_queue_limit(scope: Scope, queue: str, limit: int | None) -> Op[int | None]:
    """Let at most `limit` jobs of `queue` run at once (None: no limit); return the former."""
    args = {"action": "limit", "limit": limit or 0}
    reply = yield from _on_queue(scope, queue, QueueControlReply, "queue_control", args)
    return None if reply.max_running < 0 else reply.max_running


def failed_page(scope: Scope, queue: str, offset: int = 0, limit: int = 50) -> Op[list[JobInfo]]:
    """One page of the failed store of `queue`, newest first."""
    page = {"offset": offset, "limit": limit}
    reply = yield from _on_queue(scope, queue, FailedPageReply, "failed_page", page)
    return [
        record_info(text(job_id), queue, record)
        for job_id, record in zip(reply.ids, reply.records, strict=True)
        if record is not None
    ]


def job_page(
    scope: Scope,
    queue: str,
    state: str,
    offset: int = 0,
    limit: int = 50,
    task: str | None = None,
) -> Op[tuple[list[JobInfo | None], int]]:
    """One page of the jobs of `queue` in `state` (see PAGE_STATES), and how many it holds.

    Ready jobs come oldest first, delayed ones soonest first, running ones by lease, failed
    and finished ones newest first; held ones (held back by their task's concurrency limit)
    task by task in name order, each oldest first, or of `task` only. An entry is None where
    the list still holds the id of a job that is gone (cancelled while queued, not met by a
    fetch yet).
    """
    if state not in PAGE_STATES:
        raise ValueError(f"state must be one of {', '.join(PAGE_STATES)}, got {state!r}")
    page = {"state": state, "offset": offset, "limit": limit}
    keys = yield from checked_keys(scope, queue)
    parked: list[str] = []
    if state == "held":
        limited = [task] if task is not None else sorted((yield from limits_in_force(scope, queue)))
        parked = [keys.parked(name) for name in limited]
    reply = yield from script(JobPageReply, call("job_page", keys, page, variadic_keys=parked))
    jobs: list[JobInfo | None] = []
    for n, raw_id in enumerate(reply.ids):
        job_id = text(raw_id)
        if state == "finished":
            record = reply.done_records[n]
            jobs.append(done_info(job_id, queue, record) if record else None)
            continue
        record = reply.records[n]
        due = reply.scores[n] if state == "delayed" else -1
        jobs.append(None if record is None else record_info(job_id, queue, record, due))
    return jobs, reply.total


def throughput(
    scope: Scope, queue: str, minutes: int = 60
) -> Op[tuple[int, list[tuple[int, int, int]]]]:
    """Per-minute (succeeded, failed, retried) of `queue`, oldest first, and the first minute.

    Returns (start of the first minute in ms of Redis time, counts per minute).
    """
    reply = yield from _on_queue(scope, queue, ThroughputReply, "throughput", {"minutes": minutes})
    counts = reply.counts
    per_minute = [
        (int(counts[i]), int(counts[i + 1]), int(counts[i + 2])) for i in range(0, len(counts), 3)
    ]
    return reply.first_minute_ms, per_minute


# -- the failed-job store --------------------------------------------------------------------


def retry_failed(
    scope: Scope,
    queue: str,
    job_ids: Sequence[str] | None = None,
    chunk: int = 1000,
    task: str | None = None,
) -> Op[tuple[list[str], list[str]]]:
    """Queue failed jobs of `queue` again: `job_ids` in one call, or all (of `task`).

    Returns (retried ids, ids that cannot run again: their payload is unusable). Ids the
    store does not hold are left out of both.
    """
    keys = yield from checked_keys(scope, queue)
    if job_ids is not None:
        reply = yield from script(
            FailedRetryReply,
            call(
                "failed_retry",
                keys,
                {"mode": "ids", "skip": 0, "limit": 0, "task": ""},
                variadic={"ids": list(job_ids)},
            ),
        )
        return [text(i) for i in reply.retried], [text(i) for i in reply.unretriable]
    retried: list[str] = []
    unretriable: list[str] = []
    skipped = 0
    while True:  # chunk by chunk, oldest first, passing over what stays
        skip = len(unretriable) + skipped
        chunk_args = {"mode": "all", "skip": skip, "limit": chunk, "task": task or ""}
        reply = yield from _on_queue(scope, queue, FailedRetryReply, "failed_retry", chunk_args)
        retried += map(text, reply.retried)
        unretriable += map(text, reply.unretriable)
        skipped += len(reply.skipped)
        if not reply.retried and not reply.unretriable and not reply.skipped:
            return retried, unretriable


def purge_failed(scope: Scope, queue: str, chunk: int = 1000, task: str | None = None) -> Op[int]:
    """Delete every failed job of `queue` (of `task`) for good, by chunks; say how many."""
    deleted = kept = 0
    while True:
        chunk_args = {"skip": kept, "limit": chunk, "task": task or ""}
        reply = yield from _on_queue(scope, queue, FailedPurgeReply, "failed_purge", chunk_args)
        deleted += reply.deleted
        kept += reply.looked - reply.deleted
        if reply.looked == 0:
            return deleted


# -- limits, periodic tasks and workers, as the status shows them ----------------------------


def limits_in_force(scope: Scope, queue: str) -> Op[dict[str, int]]:
    """Every task of `queue` with a concurrency limit, and the limit."""
    found = yield from _scan("hscan", queue_keys(scope.namespace, queue).limits)
    return {text(task): int(limit) for task, limit in found}


def limit_sources(scope: Scope, queue: str) -> Op[tuple[dict[str, int], dict[str, int]]]:
    """(limits declared in code, operators' overrides) of the tasks of `queue`."""
    k = queue_keys(scope.namespace, queue)
    code = yield Command("hgetall", (k.limits_code,))
    override = yield Command("hgetall", (k.limits_override,))
    return (
        {text(task): int(limit) for task, limit in code.items()},
        {text(task): int(limit) for task, limit in override.items()},
    )


def concurrency(scope: Scope, queue: str, task: str) -> Op[tuple[int | None, int, int]]:
    """(limit in force, jobs running, jobs held back) of a task of `queue`."""
    k = queue_keys(scope.namespace, queue)
    limit = yield Command("hget", (k.limits, task))
    running = yield Command("zlexcount", (k.limited_running, f"[{task}\0", f"({task}\1"))
    parked = yield Command("llen", (k.parked(task),))
    return (None if limit is None else int(limit)), int(running), int(parked)


def redis_now_ms() -> Op[int]:
    """Redis's clock, in ms."""
    seconds, micros = yield Command("time")
    return int(seconds) * 1000 + int(micros) // 1000


def periodic_tasks(scope: Scope, queue: str) -> Op[list[PeriodicInfo]]:
    """Every periodic task Redis knows for `queue`: scheduled, or removed by an operator."""
    k = queue_keys(scope.namespace, queue)
    now_ms = yield from redis_now_ms()
    due = yield Command("zrange", (k.periodic, 0, -1), {"withscores": True})
    alive = yield Command("zrange", (k.periodic_alive, 0, -1), {"withscores": True})
    every_raw = yield Command("hgetall", (k.periodic_every,))
    paused_raw = yield Command("smembers", (k.periodic_paused,))
    every = {text(t): int(p) for t, p in every_raw.items()}
    paused = {text(t) for t in paused_raw}
    next_ms = {text(t): int(at) for t, at in cast("list[tuple[bytes | str, float]]", due)}
    alive_until = {text(t): int(until) for t, until in cast("list[tuple[bytes, float]]", alive)}
    return [
        PeriodicInfo(
            task=name,
            next_ms=next_ms.get(name),
            period_ms=every.get(name),
            paused=name in paused,
            alive=alive_until.get(name, 0) > now_ms,
        )
        for name in sorted(set(next_ms) | paused)
    ]


def live_workers(scope: Scope, queue: str) -> Op[list[WorkerInfo]]:
    """What the live workers of `queue` say about themselves (with `alive_until_ms`)."""
    k = queue_keys(scope.namespace, queue)
    now_ms = yield from redis_now_ms()
    entries = cast(
        "list[tuple[bytes | str, float]]",
        (yield Command("zrangebyscore", (k.workers, now_ms, "+inf"), {"withscores": True})),
    )
    if not entries:
        return []
    found = yield Command("hmget", (k.workers_info, [worker_id for worker_id, _ in entries]))
    workers = []
    for (_, until), raw in zip(entries, found, strict=True):
        info = decode_worker_info(raw, int(until)) if raw else None
        if info is not None:
            workers.append(info)
    return workers
