"""The progress board sends the latest report of each job, batched and rate-limited."""

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from spinach.job import Job
from spinach_worker import progress
from spinach_worker.progress import ProgressBoard


class Recorder:
    """A broker that records the progress calls it gets (the board's only use of it)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str, str]]]] = []
        self.sent = threading.Event()

    def report_progress(self, queue: str, updates: Sequence[tuple[str, str, str]]) -> int:
        self.calls.append((queue, list(updates)))
        self.sent.set()
        return len(updates)


def _job(queue: str, token: str) -> Job:
    job = Job("t", queue, datetime.now(UTC), 0)
    job._lease_token = token
    return job


def test_many_reports_make_few_calls_and_the_latest_of_each_job_wins() -> None:
    recorder = Recorder()
    board = ProgressBoard({"a": recorder, "b": recorder}, name="test-progress")  # type: ignore[dict-item]
    first, second, other = _job("a", "1:0:w"), _job("a", "2:0:w"), _job("b", "3:0:w")
    board.start()
    started = time.monotonic()
    for n in range(2000):
        board.report(first, f"{n}")
        board.report(second, f"{n}")
    board.report(other, "x")
    board.stop()
    elapsed = time.monotonic() - started
    assert len(recorder.calls) <= 2 * (2 + elapsed / progress.INTERVAL)  # two queues per send
    latest = {job_id: value for _, updates in recorder.calls for job_id, _, value in updates}
    assert latest == {first.job_id: "1999", second.job_id: "1999", other.job_id: "x"}
    assert {queue for queue, _ in recorder.calls} == {"a", "b"}


def test_a_report_goes_out_at_once_when_none_went_recently() -> None:
    recorder = Recorder()
    board = ProgressBoard({"a": recorder}, name="test-progress")  # type: ignore[dict-item]
    board.start()
    try:
        board.report(_job("a", "1:0:w"), "0.5\x03half")
        assert recorder.sent.wait(progress.INTERVAL)  # not held back for a full interval
    finally:
        board.stop()
