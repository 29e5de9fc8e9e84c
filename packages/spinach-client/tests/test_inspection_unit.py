"""What is kept of a failed run's error, and how records read back."""

import os

from spinach.inspection import MAX_ERROR_CHARS, CancelResult, describe_error, record_info
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


def test_a_record_reads_back_with_its_error_split() -> None:
    raw = b'["f","resize",2,1700000000000,1700000001000,1700000002000,"w1","ValueError: a: b",3]'
    info = record_info(
        "id1", "images", raw, b'{"v":"1","id":"id1","task":"resize","queue":"images","args":[1]}'
    )
    assert (info.status, info.task, info.attempts, info.max_retries) == (
        JobStatus.FAILED,
        "resize",
        2,
        3,
    )
    assert (info.error_type, info.error_message, info.args, info.retriable) == (
        "ValueError",
        "a: b",
        (1,),
        True,
    )
    assert info.finished_at is not None and info.finished_at.timestamp() == 1700000002.0


def test_only_a_cancelled_result_is_true() -> None:
    assert [bool(result) for result in CancelResult] == [True, False, False, False]
