"""What is kept of a failed run's error, and how records read back."""

import os

from spinach.inspection import (
    MAX_ERROR_CHARS,
    MAX_TRACEBACK_CHARS,
    CancelResult,
    describe_error,
    describe_traceback,
    done_info,
    record_info,
)
from spinach.job import JobStatus


def test_an_error_is_kept_as_its_type_and_message() -> None:
    assert describe_error(ValueError("bad input")) == "ValueError: bad input"
    assert describe_error(KeyError()) == "KeyError"
    assert describe_error(OSError("x")).startswith("OSError: ")


def test_an_error_text_is_always_valid_utf8_and_bounded() -> None:
    text = describe_error(ValueError(os.fsdecode(b"file-\xff") + "é" * MAX_ERROR_CHARS))
    text.encode("utf-8")  # what Redis takes: no surrogate left
    assert text.startswith("ValueError: file-\\udcff") and len(text) <= MAX_ERROR_CHARS


def test_an_error_whose_message_cannot_be_read_is_still_described() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert describe_error(Broken()).endswith("Broken: (its message could not be read)")


def _packed(envelope: bytes = b"", **fields: str) -> bytes:
    """A record as the record include writes it: "[<lease>\\x02]<state>\\x01<envelope>"."""
    from spinach.inspection import RECORD_FIELDS

    state = "\0".join(fields.get(name, "") for name in RECORD_FIELDS).encode()
    lease = fields.get("l")
    return (lease.encode() + b"\x02" if lease else b"") + state + b"\x01" + envelope


def test_a_failed_record_reads_back_with_its_error_split_and_its_traceback() -> None:
    envelope = '{"v":"1","id":"id1","task":"resize","queue":"images","args":[1]}'
    packed = _packed(
        envelope.encode(),
        t="resize", c="1700000000000", b="3", r="2", s="f", f="1700000002000",
        ran="7:1700000001000:w1", err="ValueError: a: b", tb="Traceback...\nValueError: a: b",
    )  # fmt: skip
    info = record_info("id1", "images", packed)
    assert (info.status, info.task, info.attempts, info.max_retries) == (
        JobStatus.FAILED,
        "resize",
        3,
        3,
    )
    assert (info.error_type, info.error_message, info.args, info.retriable) == (
        "ValueError",
        "a: b",
        (1,),
        True,
    )
    assert info.traceback == "Traceback...\nValueError: a: b"
    assert info.worker == "w1"
    assert info.finished_at is not None and info.finished_at.timestamp() == 1700000002.0
    assert info.started_at is not None and info.started_at.timestamp() == 1700000001.0


def test_a_live_record_reads_as_waiting_queued_running_or_abandoned() -> None:
    envelope = b'{"v":"1","id":"i","task":"t","queue":"q"}'
    base = {"t": "t", "c": "1700000000000"}
    waiting = record_info("i", "q", _packed(envelope, **base), due_ms=1700000005000)
    assert waiting.status is JobStatus.WAITING
    assert record_info("i", "q", _packed(envelope, **base)).status is JobStatus.QUEUED
    running = record_info("i", "q", _packed(envelope, **base, l="9:1700000001000:w2"))
    assert (running.status, running.attempts, running.worker) == (JobStatus.RUNNING, 1, "w2")
    abandoned = record_info("i", "q", _packed(b"", **base, x="1", ran="9:1700000001000:w2"))
    assert abandoned.status is JobStatus.FAILED
    assert abandoned.error_type == "spinach.exc.JobAbandonedError"


def test_a_done_record_reads_back() -> None:
    kept = _packed(l="7:1700000001000:w1", r="1", t="resize", c="1700000000000").split(b"\x01")[0]
    info = done_info("id1", "images", b"s\x031700000002000\x03" + kept)
    assert (info.status, info.attempts, info.worker, info.task) == (
        JobStatus.SUCCEEDED,
        2,
        "w1",
        "resize",
    )
    assert info.finished_at is not None and info.finished_at.timestamp() == 1700000002.0


def test_a_traceback_is_kept_bounded_with_its_end() -> None:
    try:
        raise ValueError("x" * (2 * MAX_TRACEBACK_CHARS) + " at the bottom")
    except ValueError as e:
        text = describe_traceback(e)
    assert len(text) <= MAX_TRACEBACK_CHARS + 4
    assert text.startswith("...") and text.rstrip().endswith("x at the bottom")


def test_only_a_cancelled_result_is_true() -> None:
    assert [bool(result) for result in CancelResult] == [True, False, False, False, False]


def test_python_reads_the_record_fields_in_the_order_the_record_include_writes_them() -> None:
    import importlib.resources
    import re

    from spinach.inspection import RECORD_FIELDS

    include = importlib.resources.files("spinach_lua").joinpath("scripts/includes/record.lua")
    declared = re.search(r"local RECORD_FIELDS = \{([^}]*)\}", include.read_text())
    assert declared is not None
    assert tuple(re.findall(r"'(\w+)'", declared.group(1))) == RECORD_FIELDS


def test_a_packed_record_with_trailing_fields_left_out_reads_back() -> None:
    from spinach.inspection import unpack_record

    assert unpack_record(b"\x00\x00mail\x001700000000000\x01{}") == (
        {"t": "mail", "c": "1700000000000"},
        b"{}",
    )
    assert unpack_record("L9:1:w\x023\x01")[0] == {"l": "L9:1:w", "r": "3"}


def test_progress_reports_are_checked_and_kept_free_of_record_separators() -> None:
    import pytest

    from spinach.running import parse_progress, progress_value

    value = progress_value(0.25, "step\x00one\x03" + "x" * 300)
    fraction, message, _ = parse_progress(value + "\x031700000000000")
    assert fraction == 0.25 and message.startswith("step one ") and len(message) == 200
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="from 0 to 1"):
            progress_value(bad, "")
    with pytest.raises(TypeError, match="from 0 to 1"):
        progress_value("half", "")  # type: ignore[arg-type]
