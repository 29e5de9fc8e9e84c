"""The demo the README starts with runs to the end on the embedded broker."""

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "tools" / "demo.py"


def test_the_demo_runs_every_job_and_reports_what_became_of_them() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", str(DEMO)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for line in (
        "compute(5, 3) = 8",
        "flaky_call('https://api.example.test') succeeded on attempt 3",
        "flaky_call: succeeded after 3 attempt(s)",
        "charge: failed after 1 attempt(s), ValueError: card declined for order 42",
        "compute: cancelled after 0 attempt(s)",
        "Failed-job store: ['charge']",
    ):
        assert line in out, out
    assert "compute(100, 100)" not in out.replace("Cancelling compute(100, 100)", "")
