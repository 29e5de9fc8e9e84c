"""The Python side of the scripts' contract: calls by name, replies by field name.

A script's header (spinach_lua) names its KEYS, ARGV and reply fields. `call()` takes the
keys by name from a QueueKeys (its fields are the key names) and the arguments by name, and
orders both as the header says; the reply comes back as the NamedTuple registered for the
script, whose fields are the header's reply fields (a unit test checks every pair). A caller
that passes a name the header does not know, or forgets one, gets a ContractError at once.
"""

import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TypeVar, cast

from spinach.keys import QueueKeys
from spinach_lua import SCRIPTS
from spinach_lua.manifest import ContractError, LuaScript

#: One script call, ready to send: its name, keys and arguments in the header's order.
Call = tuple[str, Sequence[str], Sequence[Any]]

T = TypeVar("T")


class _Plan(NamedTuple):
    script: LuaScript
    keys: tuple[str, ...]
    key_positions: dict[str, int]
    args: frozenset[str]
    arg_order: tuple[str, ...]
    variadic: tuple[str, ...]
    variadic_set: frozenset[str]
    has_variadic_key: bool
    reply_count: int


def _plan(script: LuaScript) -> _Plan:
    return _Plan(
        script=script,
        keys=script.fixed_keys,
        key_positions={key: n for n, key in enumerate(script.fixed_keys)},
        args=frozenset(script.fixed_args),
        arg_order=script.fixed_args,
        variadic=tuple(entry.name for entry in script.variadic_args),
        variadic_set=frozenset(entry.name for entry in script.variadic_args),
        has_variadic_key=script.variadic_key is not None,
        reply_count=len(script.reply_fields),
    )


@functools.cache
def _plan_of(name: str) -> _Plan:
    """The plan of script `name`, made on its first call (every process calls a few)."""
    script = SCRIPTS.get(name)
    if script is None:
        raise ContractError(f"No script named {name!r}")
    return _plan(script)


@functools.lru_cache(maxsize=4096)
def _ordered_keys(name: str, keys: QueueKeys) -> tuple[str | None, ...]:
    """The fixed keys of script `name` on `keys`, in header order, None for those `keys` does
    not have (queue_keys is cached, so the keys of a queue are looked up once per script)."""
    return tuple(getattr(keys, k, None) for k in _plan_of(name).keys)


def call(
    name: str,
    keys: QueueKeys,
    args: Mapping[str, Any] | None = None,
    *,
    given: Mapping[str, str] | None = None,
    variadic_keys: Sequence[str] = (),
    variadic: Mapping[str, Sequence[Any]] | None = None,
) -> Call:
    """Build the call of script `name`: keys from `keys` (or `given`), arguments by name.

    `variadic_keys` are the keys of the script's variadic key entry; `variadic` maps each
    variadic argument's name to its flat list of values (groups flattened).
    """
    plan = _plan_of(name)
    ordered = list(_ordered_keys(name, keys))
    if given:
        for key, value in given.items():
            position = plan.key_positions.get(key)
            if position is None:
                raise ContractError(f"Script {name} has no key named {key!r}")
            ordered[position] = value
    if None in ordered:
        missing = [k for k, value in zip(plan.keys, ordered, strict=True) if value is None]
        raise ContractError(f"Script {name} needs keys this caller does not have: {missing}")
    if variadic_keys:
        if not plan.has_variadic_key:
            raise ContractError(f"Script {name} takes no variadic keys")
        ordered += variadic_keys
    given_args = args or {}
    if given_args.keys() != plan.args:
        missing = sorted(plan.args - given_args.keys())
        extra = sorted(given_args.keys() - plan.args)
        raise ContractError(f"Script {name}: arguments missing {missing}, unknown {extra}")
    values: list[Any] = [given_args[arg] for arg in plan.arg_order]
    if variadic:
        if not variadic.keys() <= plan.variadic_set:
            raise ContractError(f"Script {name}: unknown variadic arguments {sorted(variadic)}")
        last = len(plan.variadic) - 1
        for n, arg in enumerate(plan.variadic):
            items = variadic.get(arg, ())
            if n < last:
                values.append(len(items))  # the count of every variadic argument but the last
            values += items
    else:
        values += [0] * (len(plan.variadic) - 1)  # each empty, its count first but the last
    return name, cast(list[str], ordered), values


def parse(name: str, reply_type: type[T], raw: Sequence[Any]) -> T:
    """Turn a script's reply (status 0 already checked) into its NamedTuple."""
    expected = _plan_of(name).reply_count
    if len(raw) - 1 != expected:
        raise ContractError(
            f"Script {name} replied {len(raw) - 1} fields, its header names {expected}"
        )
    result: T = reply_type(*raw[1:])
    return result


# -- the replies, one NamedTuple per script, fields in the header's order ----------------------
# Redis returns bytes for strings, ints for numbers, lists for tables, None for false.


class EnqueueReply(NamedTuple):
    queued: int
    delayed: int
    duplicates: int
    existing: list[bytes]
    clock: int


class FetchReply(NamedTuple):
    applied: int
    rejected: list[bytes]
    signals: int
    ids: list[bytes]
    records: list[bytes]
    leases: list[bytes]
    ready_left: int
    delayed_left: int
    next_due_ms: int
    running_left: int
    next_expiry_ms: int
    held_ready: int


class FinishReply(NamedTuple):
    applied: int
    rejected: list[bytes]
    signals: int


class ReleaseReply(NamedTuple):
    released: int


class RenewReply(NamedTuple):
    lost: list[bytes]
    recovered: int
    cancelled: list[bytes]


class ProgressReply(NamedTuple):
    applied: int


class CancelReply(NamedTuple):
    outcome: bytes
    signals: int


class WorkflowSignalReply(NamedTuple):
    applied: int
    pushed: int


class OutboxDoneReply(NamedTuple):
    removed: int


class WorkflowSendReply(NamedTuple):
    queued: int
    held: int


class JobStateReply(NamedTuple):
    kind: bytes
    record: bytes | None
    due_ms: int
    done_record: bytes | None
    held: bytes
    result: bytes | None


class FailedPageReply(NamedTuple):
    ids: list[bytes]
    records: list[bytes | None]


class FailedRetryReply(NamedTuple):
    retried: list[bytes]
    unknown: list[bytes]
    unretriable: list[bytes]
    skipped: list[bytes]


class FailedPurgeReply(NamedTuple):
    deleted: int
    looked: int


class ExpireRecordsReply(NamedTuple):
    dropped: int


class QueueStatsReply(NamedTuple):
    ready: int
    delayed: int
    running: int
    failed: int
    oldest_id: bytes | None
    oldest_queued_ms: int
    oldest_envelope: bytes | None
    now_ms: int
    paused: int
    max_running: int


class TickReply(NamedTuple):
    created: int
    next_due_ms: int


class SetLimitsReply(NamedTuple):
    limits: list[int]


class RegisterPeriodicReply(NamedTuple):
    next_due_ms: int


class PeriodicControlReply(NamedTuple):
    changed: int


class RegisterWorkerReply(NamedTuple):
    live: int


class RunNowReply(NamedTuple):
    moved: int


class JobPageReply(NamedTuple):
    ids: list[bytes]
    records: list[bytes | None]
    done_records: list[bytes | None]
    scores: list[int]
    total: int


class QueueControlReply(NamedTuple):
    changed: int
    paused: int
    max_running: int


class ThroughputReply(NamedTuple):
    first_minute_ms: int
    counts: list[int]


#: The reply type of every script, by name (a unit test checks it against the headers).
REPLIES: dict[str, type[tuple[Any, ...]]] = {
    "enqueue": EnqueueReply,
    "fetch": FetchReply,
    "finish": FinishReply,
    "release": ReleaseReply,
    "renew": RenewReply,
    "progress": ProgressReply,
    "workflow_signal": WorkflowSignalReply,
    "workflow_send": WorkflowSendReply,
    "outbox_done": OutboxDoneReply,
    "cancel": CancelReply,
    "job_state": JobStateReply,
    "failed_page": FailedPageReply,
    "failed_retry": FailedRetryReply,
    "failed_purge": FailedPurgeReply,
    "expire_records": ExpireRecordsReply,
    "queue_stats": QueueStatsReply,
    "tick": TickReply,
    "set_limits": SetLimitsReply,
    "register_periodic": RegisterPeriodicReply,
    "periodic_control": PeriodicControlReply,
    "register_worker": RegisterWorkerReply,
    "run_now": RunNowReply,
    "job_page": JobPageReply,
    "throughput": ThroughputReply,
    "queue_control": QueueControlReply,
}
