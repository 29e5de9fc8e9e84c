"""Stored results: what a job that opted in returned (or how it ended), kept for a while.

A task (or one job) opts in with ``store_result=True``; the worker then keeps the return value,
as JSON, for ``result_ttl``. A job that fails for good or is cancelled leaves that instead, so
whoever waits for the result learns how it ended. The value lives in Redis under the job's
queue (see spinach_lua's result include), bounded per queue by `Retention.max_results`.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec

from spinach.arguments import json_problem
from spinach.exc import SpinachError
from spinach.utils import checked_duration

#: How long a result is kept when its task or job does not say.
DEFAULT_RESULT_TTL = timedelta(days=1)

#: Largest result kept: a task returning more fails (results live in Redis's memory).
MAX_RESULT_BYTES = 512 * 1024


class ResultError(SpinachError):
    """Waiting for a job's result could not give one."""


class ResultTimeout(ResultError, TimeoutError):
    """The job did not end within the time `Engine.result` was given."""


class NoResultError(ResultError, LookupError):
    """The job keeps no result (it did not opt in), or its result expired or was never sent."""


class JobFailedError(ResultError):
    """The job whose result was awaited failed for good: its error is carried here."""

    def __init__(self, job_id: str, error_type: str, message: str, traceback: str) -> None:
        super().__init__(
            f"Job {job_id} failed: {error_type}: {message}"
            if message
            else f"Job {job_id} failed: {error_type}"
        )
        self.job_id = job_id
        #: The remote exception's type name and message, as the worker described them.
        self.error_type = error_type
        self.error_message = message
        #: The remote traceback (its last lines when long).
        self.remote_traceback = traceback


class JobCancelledError(ResultError):
    """The job whose result was awaited was cancelled before it could end otherwise."""


class UnstorableResultError(SpinachError, TypeError):
    """A task returned a value that cannot be kept as its result: the job fails for good."""


def checked_ttl(where: str, store_result: object, result_ttl: object) -> int:
    """The result lifetime jobs carry, in ms (0: no result), from the two options as given.

    `store_result` None and `result_ttl` None mean "not said" (0 here). A `result_ttl` given
    alone turns results on.
    """
    if store_result is not None and not isinstance(store_result, bool):
        raise TypeError(f"{where}: store_result must be True or False, got {store_result!r}")
    if result_ttl is None:
        return _ms(DEFAULT_RESULT_TTL) if store_result else 0
    if store_result is False:
        raise ValueError(f"{where}: result_ttl is given but store_result=False: drop one")
    ms = _ms(checked_duration(f"{where}: result_ttl", result_ttl))
    if ms < 1:
        raise ValueError(f"{where}: result_ttl must be at least one millisecond")
    return ms


def _ms(value: timedelta) -> int:
    return max(0, -(-value // timedelta(milliseconds=1)))


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def encode_result(task: str, value: Any) -> bytes:
    """A return value as JSON; UnstorableResultError saying why when it cannot be kept."""
    problem = json_problem(value, "the result")
    if problem is not None:
        raise UnstorableResultError(
            f"Task {task!r} returned {_short(value)}, which cannot be kept as its result "
            f"({problem}): return JSON data (None, bool, int, float, str, list, dict with str "
            "keys), or turn store_result off"
        )
    data = _encoder.encode(value)
    if len(data) > MAX_RESULT_BYTES:
        raise UnstorableResultError(
            f"Task {task!r} returned a result of {len(data)} bytes as JSON, over the limit of "
            f"{MAX_RESULT_BYTES}: store large data elsewhere and return a reference"
        )
    return data


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True, slots=True)
class StoredResult:
    """How a job that keeps its result ended: 'succeeded' (with `value`), 'failed', 'cancelled'."""

    state: str
    value: Any = None
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""

    def unwrap(self, job_id: str) -> Any:
        """The value; JobFailedError or JobCancelledError when the job did not succeed."""
        if self.state == "succeeded":
            return self.value
        if self.state == "failed":
            raise JobFailedError(job_id, self.error_type, self.error_message, self.traceback)
        raise JobCancelledError(f"Job {job_id} was cancelled: it has no result")


def parse_stored(raw: bytes | str) -> StoredResult:
    """A stored result as the scripts write it (see spinach_lua's result include)."""
    data = raw.encode() if isinstance(raw, str) else raw
    kind, body = data[:1], data[1:]
    if kind == b"s":
        return StoredResult("succeeded", _decoder.decode(body))
    if kind == b"f":
        error, _, trace = body.decode(errors="replace").partition("\x03")
        error_type, _, message = error.partition(": ")
        return StoredResult("failed", None, error_type, message, trace)
    return StoredResult("cancelled")
