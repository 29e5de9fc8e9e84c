"""The versions under test: the job counts each gets by default, and what its runs measured."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Default job counts per option; the report notes any side that ran with others.
DEFAULTS = {"enqueue_jobs": 5_000, "batch_jobs": 20_000, "jobs": 20_000, "latency_jobs": 200}

#: Per phase, the metric that picks the median run, whose details (command counts) are kept.
PRIMARY = {
    "enqueue_single": "rate",
    "enqueue_batch": "rate",
    "process": "rate_from_spawn",
    "process_incr": "rate_from_spawn",
    "latency": "p50_ms",
    "aio_enqueue_single": "rate",
    "aio_enqueue_batch": "rate",
}

#: The measured phases run by a bench script's phase of another name, with the job it runs.
SCRIPT_PHASE = {"process_incr": ("process", "incr")}

#: The floors: the same work without a queue (measured once per run, version-independent),
#: each with its bench-script phase and job.
FLOORS = {
    "floor_process": ("floor_process", "noop"),
    "floor_process_incr": ("floor_process", "incr"),
    "floor_enqueue_single": ("floor_enqueue_single", "noop"),
    "floor_enqueue_batch": ("floor_enqueue_batch", "noop"),
    "floor_round_trip": ("floor_round_trip", "noop"),
}

#: Phases of this repo only (0.0.25 has no asyncio client), shown against its sync phases.
CURRENT_ONLY = {"aio_enqueue_single": "enqueue_single", "aio_enqueue_batch": "enqueue_batch"}


@dataclass
class Side:
    """One version under test: how to run its bench script, and the job counts it gets."""

    key: str
    label: str
    python: str
    script: Path
    env: dict[str, str]
    jobs: dict[str, int]
    #: Every run of each phase, and the per-metric medians that the table shows.
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Measured phases of the floors (this repo's side only), like `runs`.
    floors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
