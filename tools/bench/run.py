"""Benchmark this repository's Spinach against Spinach 0.0.25 from PyPI, side by side.

Run as ``uv run --all-packages python tools/bench/run.py [--jobs 20000 ...]``. Everything runs
against a throwaway redis-server on a free loopback port, never a shared one. 0.0.25 runs from
a cached venv (.bench/venv-0025) so both versions are measured in the same run on the same
machine. Each phase runs in a fresh subprocess on a fresh namespace, after FLUSHALL and
CONFIG RESETSTAT. The table goes to stdout and the raw numbers to .bench/results.json.
"""

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BENCH_DIR = ROOT / ".bench"
LEGACY_VERSION = "0.0.25"
REDIS_SERVER = "/usr/bin/redis-server"
SHARED_REDIS_PORT = 6379

DEFAULTS = {"enqueue_jobs": 5_000, "batch_jobs": 20_000, "jobs": 20_000, "latency_jobs": 200}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare this repository's Spinach with Spinach 0.0.25 on a throwaway Redis."
    )
    add = parser.add_argument
    add(
        "--enqueue-jobs",
        type=int,
        default=DEFAULTS["enqueue_jobs"],
        help="schedule() calls, one job each (default %(default)s)",
    )
    add(
        "--batch-jobs",
        type=int,
        default=DEFAULTS["batch_jobs"],
        help="jobs in the one schedule_batch() (default %(default)s)",
    )
    add(
        "--jobs",
        type=int,
        default=DEFAULTS["jobs"],
        help="no-op jobs the worker processes (default %(default)s)",
    )
    add(
        "--latency-jobs",
        type=int,
        default=DEFAULTS["latency_jobs"],
        help="jobs sent one at a time to an idle worker (default %(default)s)",
    )
    add(
        "--interval-ms",
        type=float,
        default=10.0,
        help="spacing of the latency jobs (default %(default)s)",
    )
    add("--threads", type=int, default=8, help="worker threads (default %(default)s)")
    add(
        "--repeat",
        type=int,
        default=3,
        help="runs of each phase; the table shows medians (default %(default)s)",
    )
    add(
        "--legacy-jobs",
        type=int,
        default=None,
        help="no-op jobs for 0.0.25's worker if it is too slow for --jobs (default: --jobs)",
    )
    add(
        "--legacy-batch-jobs",
        type=int,
        default=None,
        help="jobs in 0.0.25's schedule_batch() (default: --batch-jobs)",
    )
    add(
        "--only",
        choices=("both", "legacy", "current"),
        default="both",
        help="measure one version only (to profile or debug)",
    )
    add(
        "--phase-timeout",
        type=float,
        default=120.0,
        help="seconds before a phase is killed and reported as timed out (default %(default)s)",
    )
    add(
        "--legacy-venv",
        type=Path,
        default=BENCH_DIR / "venv-0025",
        help="where the 0.0.25 venv is cached (default %(default)s)",
    )
    add(
        "--output",
        type=Path,
        default=BENCH_DIR / "results.json",
        help="raw JSON results (default %(default)s)",
    )
    return parser.parse_args()  # fmt: skip


# -- the throwaway Redis -----------------------------------------------------------------------


def free_port() -> int:
    """A loopback TCP port free right now (never the shared instance's)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != SHARED_REDIS_PORT:
            return port


@contextmanager
def throwaway_redis() -> Iterator[tuple[str, redis.Redis]]:
    """A redis-server of our own on 127.0.0.1, without persistence, removed on exit."""
    if not os.access(REDIS_SERVER, os.X_OK):
        raise SystemExit(f"{REDIS_SERVER} not found: install redis-server (apt-get install it)")
    directory = tempfile.mkdtemp(prefix="spinach-bench-redis-")
    process: subprocess.Popen[bytes] | None = None
    client: redis.Redis | None = None
    try:
        for _attempt in range(3):  # another process may grab the port between probe and bind
            port = free_port()
            process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--protected-mode", "yes",
                    "--dir", directory,
                    "--save", "",
                    "--appendonly", "no",
                    "--logfile", os.path.join(directory, "redis.log"),
                ],
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            client = redis.Redis(host="127.0.0.1", port=port)
            if _wait_for_ping(client, process):
                break
            client.close()
            client = None
            _stop(process)
        if client is None:
            raise SystemExit(f"redis-server did not start; see {directory}/redis.log")
        yield f"redis://127.0.0.1:{port}/0", client
    finally:
        if client is not None:
            client.close()
        if process is not None:
            _stop(process)
        shutil.rmtree(directory, ignore_errors=True)


def _wait_for_ping(client: redis.Redis, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            time.sleep(0.02)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reset(client: redis.Redis, flush: bool = True) -> None:
    """Start a phase from an empty Redis with zeroed counters (the script cache stays)."""
    if flush:
        client.flushall()
    client.config_resetstat()


# -- the two versions ------------------------------------------------------------------------


def ensure_legacy_venv(venv: Path) -> Path:
    """Return the python of a venv holding spinach 0.0.25, creating it the first time."""
    python = venv / "bin" / "python"
    if python.exists() and _spinach_version(python) == LEGACY_VERSION:
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to create the Spinach 0.0.25 venv")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    print(f"Creating {venv} with spinach=={LEGACY_VERSION} (once)...", file=sys.stderr)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(venv)],
        check=True,
        env=env,
    )
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python),
         f"spinach=={LEGACY_VERSION}", "redis"],
        check=True,
        env=env,
    )  # fmt: skip
    found = _spinach_version(python)
    if found != LEGACY_VERSION:
        raise SystemExit(f"{venv} holds spinach {found}, not {LEGACY_VERSION}")
    return python


def _spinach_version(python: Path) -> str | None:
    probe = "import importlib.metadata as m; print(m.version('spinach'))"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


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
    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def make_sides(args: argparse.Namespace) -> list[Side]:
    base = {
        "enqueue_single": args.enqueue_jobs,
        "enqueue_batch": args.batch_jobs,
        "process": args.jobs,
        "latency": args.latency_jobs,
    }
    sides: list[Side] = []
    if args.only in ("both", "legacy"):
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        legacy_jobs = dict(base)
        if args.legacy_jobs is not None:
            legacy_jobs["process"] = args.legacy_jobs
        if args.legacy_batch_jobs is not None:
            legacy_jobs["enqueue_batch"] = args.legacy_batch_jobs
        python = str(ensure_legacy_venv(args.legacy_venv))
        script = HERE / "legacy_bench.py"
        sides.append(Side("legacy", "spinach 0.0.25", python, script, env, legacy_jobs))
    if args.only in ("both", "current"):
        script = HERE / "current_bench.py"
        env = dict(os.environ)
        sides.append(Side("current", "spinach (this repo)", sys.executable, script, env, base))
    return sides


class PhaseError(Exception):
    """A phase subprocess failed or timed out; its log says why."""


def run_phase(
    side: Side,
    args: argparse.Namespace,
    url: str,
    phase: str,
    jobs: int,
    namespace: str,
    attempt: int,
) -> dict[str, Any]:
    """Run one phase of one version in a fresh subprocess and return its JSON result."""
    log_path = BENCH_DIR / "logs" / f"{side.key}-{phase}-{attempt}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        side.python, str(side.script),
        "--redis-url", url,
        "--phase", phase,
        "--jobs", str(jobs),
        "--namespace", namespace,
        "--threads", str(args.threads),
        "--interval-ms", str(args.interval_ms),
    ]  # fmt: skip
    with log_path.open("w") as log:
        try:
            done = subprocess.run(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                env=side.env,
                cwd=ROOT,
                timeout=args.phase_timeout,
            )
        except subprocess.TimeoutExpired:
            raise PhaseError(
                f"timed out after {args.phase_timeout:g} s with {jobs} jobs "
                "(lower the job count with the options)"
            ) from None
    if done.returncode != 0:
        tail = log_path.read_text().strip().splitlines()[-1:] or ["no output"]
        raise PhaseError(f"exit {done.returncode}: {tail[0]} (log: {log_path})")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise PhaseError(f"printed no result (log: {log_path})")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


#: Per phase, the metric that picks the median run, whose details (command counts) are kept.
PRIMARY = {
    "enqueue_single": "rate",
    "enqueue_batch": "rate",
    "process": "rate",
    "latency": "p50_ms",
}


def measure(sides: list[Side], args: argparse.Namespace, url: str, client: redis.Redis) -> None:
    """Run every phase `repeat` times, the versions alternating, each from a clean Redis."""
    for phase in PRIMARY:
        for attempt in range(1, args.repeat + 1):
            for side in sides:
                _measure_once(side, args, url, client, phase, attempt)
    for side in sides:
        for phase, runs in side.runs.items():
            side.results[phase] = median_result(runs, PRIMARY[phase])


def median_result(runs: list[dict[str, Any]], primary: str) -> dict[str, Any]:
    """Each number's median over the runs; the rest (command counts...) from the median run.

    Per metric, because one run's tail (a p99 of 200 samples is their second largest) says
    little on its own.
    """
    ranked = sorted(runs, key=lambda result: float(result[primary]))
    merged = dict(ranked[(len(ranked) - 1) // 2])
    for key, value in merged.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            merged[key] = statistics.median(float(run[key]) for run in runs)
    return merged


def _measure_once(
    side: Side, args: argparse.Namespace, url: str, client: redis.Redis, phase: str, attempt: int
) -> None:
    jobs = side.jobs[phase]
    namespace = f"bench-{side.key}-{phase}-{uuid.uuid4().hex[:8]}"
    print(
        f"  {side.label:<20} {phase:<15} {jobs:>6} jobs, run {attempt}/{args.repeat} ...",
        end="",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    try:
        reset(client)
        if phase == "process":
            run_phase(side, args, url, "prefill", jobs, namespace, attempt)
            if (queued := _queued(client, side, namespace)) != jobs:
                raise PhaseError(f"prefill left {queued} jobs queued, not {jobs}")
            reset(client, flush=False)
        result = run_phase(side, args, url, phase, jobs, namespace, attempt)
        side.runs.setdefault(phase, []).append(result)
        status = f"ok ({PRIMARY[phase]} {result[PRIMARY[phase]]:,.2f})"
    except PhaseError as e:
        side.errors[f"{phase} run {attempt}"] = str(e)
        status = f"FAILED: {e}"
    print(f" {time.perf_counter() - started:5.1f} s {status}", file=sys.stderr)


def _queued(client: redis.Redis, side: Side, namespace: str) -> int:
    """Jobs waiting in the queue, read from each version's own key layout."""
    if side.key == "legacy":
        key = f"{namespace}/spinach"
    else:
        key = f"spinach:{{{namespace}/spinach}}:ready"
    return int(client.llen(key))


# -- reporting -------------------------------------------------------------------------------


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


def source_digest() -> str:
    """Hash of the workspace packages' sources, to notice code that changes during a run."""
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("packages/*/src/**/*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def repo_state() -> dict[str, Any]:
    """The commit measured, and whether packages/ differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.rstrip("\n") if done.returncode == 0 else "?"

    dirty = [line[3:] for line in git("status", "--porcelain", "packages").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty_packages": dirty}


def machine_info(client: redis.Redis, sides: list[Side]) -> dict[str, Any]:
    cpu_model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    server = subprocess.run([REDIS_SERVER, "--version"], capture_output=True, text=True)
    versions = {
        side.key: {
            k: next((r[k] for r in side.results.values() if k in r), "?")
            for k in ("spinach_version", "python", "redis_py", "hiredis", "spinach_path")
        }
        for side in sides
    }
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "redis_server": server.stdout.strip(),
        "redis_version": client.info("server")["redis_version"],
        "versions": versions,
    }


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


# -- main ------------------------------------------------------------------------------------


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: Redis is stopped


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.perf_counter()
    load = os.getloadavg()
    BENCH_DIR.mkdir(exist_ok=True)
    shutil.rmtree(BENCH_DIR / "logs", ignore_errors=True)  # only this run's logs
    sides = make_sides(args)
    repo = repo_state()
    digest_before = source_digest()
    with throwaway_redis() as (url, client):
        print(f"Benchmarking against {url}", file=sys.stderr)
        measure(sides, args, url, client)
        machine = machine_info(client, sides) | {"loadavg_at_start": load}
    repo |= {"sources_before": digest_before, "sources_after": source_digest()}
    elapsed = time.perf_counter() - started

    print()
    print("Spinach benchmark: 0.0.25 (PyPI) vs this repo")
    print()
    print("Machine:")
    print(f"  nproc {machine['nproc']} (usable {machine['cpus_usable']}), {machine['cpu_model']}")
    print(f"  {machine['platform']}, load average at start {load[0]:.2f}")
    print(f"  {machine['python']}; {machine['redis_server']}")
    for key, info in machine["versions"].items():
        print(
            f"  {key}: spinach {info['spinach_version']} on Python {info['python']}, "
            f"redis-py {info['redis_py']}, hiredis {'yes' if info['hiredis'] is True else 'no'}"
        )
    dirty = repo["dirty_packages"]
    state = f" + uncommitted changes to {len(dirty)} files in packages/" if dirty else ""
    print(f"  repo at {repo['commit']}{state} (sources {repo['sources_before']})")
    print()
    print("Parameters:")
    for line in describe(args, sides, url):
        print(f"  - {line}")
    print()
    lines = table(sides)
    print(render(lines))
    print()
    print(f"Spread over {args.repeat} runs per phase (min .. max; the table shows medians):")
    for line in spread(sides):
        print(f"  {line}")
    print()
    print("ratio = this repo / 0.0.25; ↑ higher is better, ↓ lower is better.")
    print("Redis commands count the ones Lua runs inside EVALSHA, as INFO commandstats does;")
    print("client round trips count the requests redis-py writes (a pipeline is one).")
    print("Peak RSS is the worker's VmHWM: its ru_maxrss would include run.py's own RSS, as Linux")
    print("keeps ru_maxrss across execve (ru_maxrss_mib stays in the JSON).")
    for note in notes(args, sides):
        print(f"NOTE: {note}")
    if repo["sources_before"] != repo["sources_after"]:
        print(
            "NOTE: packages/*/src changed during the run: the numbers of this repo may mix "
            "versions of the code; run again on a quiet tree"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "machine": machine,
                "repo": repo,
                "parameters": vars(args) | {"jobs_per_side": {s.key: s.jobs for s in sides}},
                "results": {s.key: s.results for s in sides},
                "runs": {s.key: s.runs for s in sides},
                "errors": {s.key: s.errors for s in sides if s.errors},
                "table": lines,
                "seconds": elapsed,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"Raw results: {args.output} (whole run: {elapsed:.0f} s)")
    failed = any(s.errors for s in sides) or any(
        not run["executions_ok"] for s in sides for run in s.runs.get("process", [])
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
