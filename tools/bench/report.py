"""The benchmark's report: the table of both versions side by side, and the lines around it."""

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from sides import DEFAULTS, PRIMARY, Side


@dataclass(frozen=True)
class Row:
    """One line of the table: where the value is, how to print it, which way is better."""

    label: str
    phase: str
    key: str
    fmt: Callable[[float], str]
    better: str  # "up", "down" or "" (no ratio)
    #: For this repo's own phases (the asyncio client): the sync phase its ratio compares with.
    versus: str = ""


def _rate(x: float) -> str:
    return f"{x:,.0f}"


def _dec(n: int) -> Callable[[float], str]:
    return lambda x: f"{x:,.{n}f}"


ROWS = [
    Row("processing from process spawn to last job (jobs/s)", "process", "rate_from_spawn",
        _rate, "up"),
    Row("processing steady, first to last job (jobs/s)", "process", "rate_steady", _rate, "up"),
    Row("spawn of the worker process to first job done (s)", "process", "spawn_to_first_job_s",
        _dec(3), "down"),
    Row("INCR job: from spawn to last job (jobs/s)", "process_incr", "rate_from_spawn", _rate,
        "up"),
    Row("INCR job: steady (jobs/s)", "process_incr", "rate_steady", _rate, "up"),
    Row("INCR job: Redis CPU us/job", "process_incr", "redis_cpu_us_per_job", _dec(1), "down"),
    Row("INCR job: worker CPU us/job", "process_incr", "process_cpu_us_per_job", _dec(1),
        "down"),
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
    Row("asyncio: await schedule() one by one (jobs/s)", "aio_enqueue_single", "rate", _rate,
        "up", versus="enqueue_single"),
    Row("asyncio: await schedule_batch() (jobs/s)", "aio_enqueue_batch", "rate", _rate, "up",
        versus="enqueue_batch"),
    Row("asyncio: await schedule(): client CPU us/job", "aio_enqueue_single",
        "process_cpu_us_per_job", _dec(1), "down", versus="enqueue_single"),
    Row("asyncio: await schedule_batch(): client CPU us/job", "aio_enqueue_batch",
        "process_cpu_us_per_job", _dec(2), "down", versus="enqueue_batch"),
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
        new = _value(current, row) if current else None
        if row.versus:  # no such thing in 0.0.25: the ratio is against this repo's sync client
            sync = replace(row, phase=row.versus)
            old = _value(current, sync) if current else None
            old_cell, suffix = "- (none)", " vs sync"
        else:
            old = _value(legacy, row) if legacy else None
            old_cell, suffix = _cell(legacy, row, old), ""
        ratio = "-"
        if row.better and old and new is not None:
            arrow = " ↑" if row.better == "up" else " ↓"
            ratio = f"{new / old:.2f}x{arrow}{suffix}"
        lines.append([row.label, old_cell, _cell(current, row, new), ratio])
    lines.append(["processing: executions / jobs", _executions(legacy), _executions(current), "-"])
    for label, floor in FLOOR_ROWS:
        value = _floor(current, floor)
        lines.append([label, "-", "n/a" if value is None else _rate(value), "-"])
    trip = current.results.get("floor_round_trip", {}) if current else {}
    for centile in ("p50", "p99"):
        value = trip.get(f"{centile}_ms")
        lines.append([
            f"floor: one RPUSH round trip from an idle client, {centile} (ms)", "-",
            f"{value:.2f}" if isinstance(value, int | float) else "n/a", "-",
        ])  # fmt: skip
    return lines


#: The floors, in the current column: the same work without any queue.
FLOOR_ROWS = [
    ("floor: the no-op job on 8 bare threads (jobs/s)", "floor_process"),
    ("floor: the INCR job on 8 bare threads (jobs/s)", "floor_process_incr"),
    ("floor: one RPUSH per job, one by one (jobs/s)", "floor_enqueue_single"),
    ("floor: one RPUSH per job, pipelined (jobs/s)", "floor_enqueue_batch"),
]


def _floor(side: Side | None, floor: str) -> float | None:
    if side is None:
        return None
    value = side.results.get(floor, {}).get("rate")
    return float(value) if isinstance(value, int | float) else None


def targets(sides: list[Side]) -> list[str]:
    """Each target of the Schema 3 issue, the figure this run measured, and whether it holds."""
    by_key = {side.key: side for side in sides}
    legacy, current = by_key.get("legacy"), by_key.get("current")
    if legacy is None or current is None:
        return ["(needs both versions)"]

    def get(side: Side, phase: str, key: str) -> float | None:
        value = side.results.get(phase, {}).get(key)
        return float(value) if isinstance(value, int | float) and math.isfinite(value) else None

    out = []

    def ratio(label: str, phase: str, key: str, bound: float, up: bool) -> None:
        old, new = get(legacy, phase, key), get(current, phase, key)
        if not old or new is None:
            out.append(f"{label}: n/a")
            return
        value = new / old
        ok = value >= bound if up else value <= bound
        sign = ">=" if up else "<="
        out.append(f"{'PASS' if ok else 'MISS'} {label}: {value:.2f}x (target {sign} {bound}x)")

    def absolute(label: str, value: float | None, bound: float, up: bool, fmt: str) -> None:
        if value is None:
            out.append(f"{label}: n/a")
            return
        ok = value >= bound if up else value <= bound
        sign = ">=" if up else "<="
        out.append(f"{'PASS' if ok else 'MISS'} {label}: {value:{fmt}} (target {sign} {bound})")

    ratio("processing steady vs 0.0.25", "process", "rate_steady", 6, True)
    ratio("processing incl. start-up vs 0.0.25", "process", "rate_from_spawn", 4, True)
    absolute("spawn to first job (s)", get(current, "process", "spawn_to_first_job_s"), 0.35,
             False, ".3f")  # fmt: skip
    ratio("Redis CPU per job, no-op job", "process", "redis_cpu_us_per_job", 0.15, False)
    ratio("Redis CPU per job, INCR job", "process_incr", "redis_cpu_us_per_job", 0.25, False)
    own = get(current, "floor_process_incr", "redis_cpu_us_per_job")
    old, new = (get(side, "process_incr", "redis_cpu_us_per_job") for side in (legacy, current))
    if own is not None and old and new is not None:
        out.append(
            f"     of which the job's own INCR (8 bare threads doing it): {own:.1f} us; beyond "
            f"it: {old - own:.1f} us (0.0.25), {new - own:.1f} us (this repo), "
            f"{(new - own) / (old - own):.2f}x"
        )
    ratio("worker CPU per job, no-op job", "process", "process_cpu_us_per_job", 0.1, False)
    incr, floor = get(current, "process_incr", "rate_steady"), _floor(current, "floor_process_incr")
    absolute("INCR job steady / its floor", incr / floor if incr and floor else None, 0.7, True,
             ".2f")  # fmt: skip
    ratio("schedule() one by one vs 0.0.25", "enqueue_single", "rate", 2, True)
    legacy_rate = get(legacy, "enqueue_single", "rate")
    rpush = _floor(current, "floor_enqueue_single")
    if legacy_rate and rpush and 2 * legacy_rate > rpush:
        out.append(
            f"     2x 0.0.25 is {2 * legacy_rate:,.0f} jobs/s, beyond one bare RPUSH per job "
            f"({rpush:,.0f}/s): a schedule() makes at least that round trip"
        )
    absolute("schedule(): Redis commands per call",
             get(current, "enqueue_single", "redis_commands_per_job"), 4, False, ".2f")  # fmt: skip
    batch, floor = get(current, "enqueue_batch", "rate"), _floor(current, "floor_enqueue_batch")
    absolute("schedule_batch() / pipelined RPUSH", batch / floor if batch and floor else None,
             0.8, True, ".2f")  # fmt: skip
    ratio("pickup latency p50 vs 0.0.25", "latency", "p50_ms", 0.5, False)
    ratio("pickup latency p99 vs 0.0.25", "latency", "p99_ms", 0.7, False)
    trip = current.results.get("floor_round_trip", {})
    if isinstance(trip.get("p50_ms"), int | float):
        out.append(
            f"     one round trip from an idle client, spaced alike: p50 {trip['p50_ms']:.2f} ms, "
            f"p99 {trip['p99_ms']:.2f} ms; a pickup makes two (the enqueue, the fetch) and a "
            "wake-up between them"
        )
    return out


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
        "process": "processing from spawn (jobs/s)",
        "process_incr": "INCR job from spawn (jobs/s)",
        "latency": "latency p50 (ms)",
        "aio_enqueue_single": "asyncio enqueue one by one (jobs/s)",
        "aio_enqueue_batch": "asyncio enqueue batch (jobs/s)",
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
    def count(phase: str) -> str:
        having = [side for side in sides if phase in side.jobs]
        counts = {side.jobs[phase] for side in having}
        if len(counts) == 1:
            return f"{counts.pop():,}"
        return " / ".join(f"{side.jobs[phase]:,} ({side.label})" for side in having)

    return [
        f"enqueue one by one: {count('enqueue_single')} schedule() calls of a no-op task, "
        "after 20 warm-up calls",
        f"enqueue batch: {count('enqueue_batch')} jobs in one schedule_batch() "
        "(Batch built before timing)",
        f"processing: {count('process')} jobs noop(a, b) enqueued beforehand by another "
        f"process; 1 fresh worker process, start_workers(number={args.threads}, block=True, "
        "stop_when_queue_empty=True); every execution counted under a lock; 'from spawn' "
        "counts from just before run.py spawns the process, 'steady' from the first job done "
        "to the last; the INCR job also makes one Redis INCR of its own" + _options(args),
        "floors: the same job functions called by 8 bare threads without a queue; one RPUSH "
        "per job of a 160-byte payload, one by one and pipelined",
        f"latency: {count('latency')} jobs sent one at a time every {args.interval_ms:g} ms to "
        f"an idle worker (start_workers(number={args.threads}, block=False), 0.5 s to settle), "
        "each passing time.time(); then stop_workers()",
        f"asyncio (this repo only, against its sync rows): {count('aio_enqueue_single')} "
        f"`await AsyncEngine.schedule()` calls one after another, and one `await "
        f"schedule_batch()` of {count('aio_enqueue_batch')} jobs, in asyncio.run() on "
        "redis.asyncio (hiredis), after the same warm-up",
        "each phase: fresh subprocess, fresh namespace, FLUSHALL + CONFIG RESETSTAT before it "
        "(and RESETSTAT again between prefill and processing); versions alternate; "
        f"{args.repeat} runs per phase and version, the table shows each metric's median",
        "environments: 0.0.25 in .bench/venv-0025 (spinach==0.0.25 and redis from PyPI); this "
        "repo in .bench/venv-current (spinach-worker and its dependencies from the lock, no dev "
        "tools); both with bytecode compiled, this repo's sources included",
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
            "process_incr": "jobs",
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


def _options(args: argparse.Namespace) -> str:
    """What this repo's side was run with beyond the defaults, as clauses of the method line."""
    clauses = [
        (
            getattr(args, "prefetch", None) is not None,
            f"this repo's workers with prefetch={getattr(args, 'prefetch', None)}",
        ),
        (
            getattr(args, "unique", False),
            "every job of this repo sent with a unique key of its own (schedule_with)",
        ),
        (
            getattr(args, "priority", 0),
            f"every job of this repo sent with priority {getattr(args, 'priority', 0)}",
        ),
        (
            getattr(args, "rate_keys", False),
            "this repo's tasks rate-limited (1000/s), each job with a rate key of its own",
        ),
        (
            getattr(args, "results", False),
            "every job of this repo keeps its result (store_result=True)",
        ),
        (
            getattr(args, "group", 0),
            f"this repo's processing jobs sent as workflow groups of {getattr(args, 'group', 0)}",
        ),
    ]
    return "".join(f"; {text}" for wanted, text in clauses if wanted)
