"""The benchmark's report: the table of both versions side by side, and the lines around it."""

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass

from sides import DEFAULTS, PRIMARY, Side


@dataclass(frozen=True)
class Row:
    """One line of the table: where the value is, how to print it, which way is better."""

    label: str
    phase: str
    key: str
    fmt: Callable[[float], str]
    better: str  # "up", "down" or "" (no ratio)


def _rate(x: float) -> str:
    return f"{x:,.0f}"


def _dec(n: int) -> Callable[[float], str]:
    return lambda x: f"{x:,.{n}f}"


ROWS = [
    Row("enqueue one by one, schedule() (jobs/s)", "enqueue_single", "rate", _rate, "up"),
    Row("enqueue in one schedule_batch() (jobs/s)", "enqueue_batch", "rate", _rate, "up"),
    Row("processing, start to last job done (jobs/s)", "process", "rate", _rate, "up"),
    Row("processing, start to workers stopped (jobs/s)", "process", "rate_with_stop", _rate, "up"),
    Row("latency enqueue -> start, p50 (ms)", "latency", "p50_ms", _dec(2), "down"),
    Row("latency enqueue -> start, p99 (ms)", "latency", "p99_ms", _dec(2), "down"),
    Row("stop_workers() on an idle worker (s)", "latency", "stop_workers_seconds", _dec(2), "down"),
    Row("processing: Redis commands/job (incl. in Lua)", "process", "redis_commands_per_job",
        _dec(2), "down"),
    Row("processing: EVALSHA+EVAL calls/job", "process", "script_calls_per_job", _dec(3), "down"),
    Row("processing: client round trips/job (redis-py)", "process", "client_round_trips_per_job",
        _dec(3), "down"),
    Row("processing: Redis CPU us/job", "process", "redis_cpu_us_per_job", _dec(1), "down"),
    Row("processing: worker CPU us/job (user+sys)", "process", "process_cpu_us_per_job",
        _dec(1), "down"),
    Row("processing: worker kernel (sys) CPU us/job", "process", "process_sys_us_per_job",
        _dec(1), "down"),
    Row("processing: worker context switches/job", "process", "context_switches_per_job",
        _dec(2), "down"),
    Row("worker peak RSS after processing (VmHWM, MiB)", "process", "rss_mib", _dec(1), "down"),
    Row("worker peak RSS before start_workers (MiB)", "process", "rss_before_mib", _dec(1), ""),
    Row("schedule(): Redis commands/job", "enqueue_single", "redis_commands_per_job",
        _dec(2), "down"),
    Row("schedule(): Redis CPU us/job", "enqueue_single", "redis_cpu_us_per_job", _dec(1), "down"),
    Row("schedule(): client CPU us/job", "enqueue_single", "process_cpu_us_per_job",
        _dec(1), "down"),
    Row("schedule_batch(): Redis CPU us/job", "enqueue_batch", "redis_cpu_us_per_job",
        _dec(2), "down"),
    Row("schedule_batch(): client CPU us/job", "enqueue_batch", "process_cpu_us_per_job",
        _dec(2), "down"),
]  # fmt: skip


def _value(side: Side, row: Row) -> float | None:
    value = side.results.get(row.phase, {}).get(row.key)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def table(sides: list[Side]) -> list[list[str]]:
    by_key = {side.key: side for side in sides}
    legacy, current = by_key.get("legacy"), by_key.get("current")
    header = ["metric", "spinach 0.0.25", "spinach (this repo)", "ratio new/old"]
    lines = [header]
    for row in ROWS:
        old = _value(legacy, row) if legacy else None
        new = _value(current, row) if current else None
        ratio = "-"
        if row.better and old and new is not None:
            arrow = " ↑" if row.better == "up" else " ↓"
            ratio = f"{new / old:.2f}x{arrow}"
        lines.append(
            [
                row.label,
                _cell(legacy, row, old),
                _cell(current, row, new),
                ratio,
            ]
        )
    lines.append(["processing: executions / jobs", _executions(legacy), _executions(current), "-"])
    return lines


def _cell(side: Side | None, row: Row, value: float | None) -> str:
    if side is None:
        return "-"
    if row.phase not in side.results and any(e.startswith(row.phase) for e in side.errors):
        return "FAILED"
    return row.fmt(value) if value is not None else "n/a"


def _executions(side: Side | None) -> str:
    if side is None or "process" not in side.results:
        return "-" if side is None else "FAILED"
    runs = side.runs["process"]
    bad = [run for run in runs if not run["executions_ok"]]
    if bad:
        return f"{bad[0]['executions']:,}/{bad[0]['jobs']:,} MISMATCH"
    return f"{runs[0]['jobs']:,}/{runs[0]['jobs']:,} x{len(runs)} runs"


def spread(sides: list[Side]) -> list[str]:
    """Min-max of each phase's deciding metric over the runs: how far to trust one ratio."""
    labels = {
        "enqueue_single": "enqueue one by one (jobs/s)",
        "enqueue_batch": "enqueue batch (jobs/s)",
        "process": "processing to last job (jobs/s)",
        "latency": "latency p50 (ms)",
    }
    out = []
    for phase, key in PRIMARY.items():
        parts = []
        for side in sides:
            values = sorted(float(run[key]) for run in side.runs.get(phase, []))
            if values:
                digits = 2 if key.endswith("_ms") else 0
                parts.append(f"{side.label} {values[0]:,.{digits}f} .. {values[-1]:,.{digits}f}")
        if parts:
            out.append(f"{labels[phase]}: " + "; ".join(parts))
    return out


def render(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]

    def fmt(line: list[str]) -> str:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(lines[0]), rule, *(fmt(line) for line in lines[1:])])


def describe(args: argparse.Namespace, sides: list[Side], url: str) -> list[str]:
    by_key = {side.key: side for side in sides}
    jobs = next(iter(by_key.values())).jobs

    def count(phase: str) -> str:
        counts = {side.jobs[phase] for side in sides}
        if len(counts) == 1:
            return f"{jobs[phase]:,}"
        return " / ".join(f"{side.jobs[phase]:,} ({side.label})" for side in sides)

    return [
        f"enqueue one by one: {count('enqueue_single')} schedule() calls of a no-op task, "
        "after 20 warm-up calls",
        f"enqueue batch: {count('enqueue_batch')} jobs in one schedule_batch() "
        "(Batch built before timing)",
        f"processing: {count('process')} no-op jobs enqueued beforehand by another process; "
        f"1 worker process, start_workers(number={args.threads}, block=True, "
        "stop_when_queue_empty=True); every execution counted under a lock",
        f"latency: {count('latency')} jobs sent one at a time every {args.interval_ms:g} ms to "
        f"an idle worker (start_workers(number={args.threads}, block=False), 0.5 s to settle), "
        "each passing time.time(); then stop_workers()",
        "each phase: fresh subprocess, fresh namespace, FLUSHALL + CONFIG RESETSTAT before it "
        "(and RESETSTAT again between prefill and processing); versions alternate; "
        f"{args.repeat} runs per phase and version, the table shows each metric's median",
        f"redis: throwaway redis-server at {url} (--save '' --appendonly no), "
        "its INFO commandstats and INFO cpu read around the measured span",
    ]


def notes(args: argparse.Namespace, sides: list[Side]) -> list[str]:
    out: list[str] = []
    for side in sides:
        for phase, error in side.errors.items():
            out.append(f"{side.label}: phase {phase} FAILED: {error}")
        changed = {
            "enqueue_single": "enqueue_jobs",
            "enqueue_batch": "batch_jobs",
            "process": "jobs",
            "latency": "latency_jobs",
        }
        for phase, option in changed.items():
            if side.jobs[phase] != DEFAULTS[option]:
                out.append(
                    f"{side.label}: {phase} ran with {side.jobs[phase]:,} jobs instead of the "
                    f"default {DEFAULTS[option]:,} (set by options): per-job numbers stay "
                    "comparable, totals do not"
                )
        if (result := side.results.get("process")) and not result["executions_ok"]:
            out.append(f"{side.label}: {result['executions']} executions for {result['jobs']} jobs")
        if (result := side.results.get("latency")) and not result["completed"]:
            out.append(
                f"{side.label}: only {result['received']} of {result['jobs']} latency jobs "
                "started in time"
            )
    return out
