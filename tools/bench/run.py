"""Benchmark this repository's Spinach against Spinach 0.0.25 from PyPI, side by side.

Run as ``uv run --all-packages python tools/bench/run.py [--jobs 20000 ...]``. Everything runs
against a throwaway redis-server on a free loopback port, never a shared one. 0.0.25 runs from
a cached venv (.bench/venv-0025) so both versions are measured in the same run on the same
machine. Each phase runs in a fresh subprocess on a fresh namespace, after FLUSHALL and
CONFIG RESETSTAT. The table goes to stdout and the raw numbers to .bench/results.json.
"""

import argparse
import compileall
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tools/, for redis_server.py

import redis
from redis_server import RedisServer
from report import describe, notes, render, spread, table, targets
from sides import CURRENT_ONLY, DEFAULTS, FLOORS, PRIMARY, SCRIPT_PHASE, Side

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BENCH_DIR = ROOT / ".bench"
LEGACY_VERSION = "0.0.25"


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
        "--prefetch",
        type=int,
        default=None,
        help="this repo's workers fetch that many jobs ahead of their threads (default: their "
        "own default, auto prefetch; 0: none; 0.0.25 has no such option)",
    )
    add(
        "--unique",
        action="store_true",
        help="this repo's jobs each carry a unique key of their own (what deduplication costs "
        "per job; 0.0.25 has none)",
    )
    add(
        "--priority",
        type=int,
        default=0,
        help="this repo's jobs are all sent with that priority (not 0: they wait in the ranked "
        "set, what priorities cost per job; 0.0.25 has none)",
    )
    add(
        "--rate-keys",
        action="store_true",
        help="this repo's tasks get rate_limit='1000/s' and each job a rate key of its own (what "
        "the limit costs per job, none of them held back; 0.0.25 has none)",
    )
    add(
        "--results",
        action="store_true",
        help="this repo's jobs all keep their result (store_result=True: what storing results "
        "costs per job; 0.0.25 has none)",
    )
    add(
        "--group",
        type=int,
        default=0,
        help="this repo's processing jobs are sent as workflow groups of that many members (what "
        "group membership costs per job; 0.0.25 has none)",
    )
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
        "--current-venv",
        type=Path,
        default=BENCH_DIR / "venv-current",
        help="the venv of this repository's side, synced from the lock on every run "
        "(default %(default)s)",
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


@contextmanager
def throwaway_redis() -> Iterator[tuple[RedisServer, redis.Redis]]:
    """A RedisServer of tools/redis_server.py and a client of it; both go on exit and SIGTERM."""
    try:
        server = RedisServer()
        server.start(attempts=3)  # another process may grab the port between probe and bind
    except RuntimeError as e:  # redis-server is missing, or did not start
        raise SystemExit(str(e)) from None
    client = server.client()
    try:
        yield server, client
    finally:
        client.close()
        server.cleanup()


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


def ensure_current_venv(venv: Path) -> Path:
    """Return the python of a venv holding this repository's worker as a worker host has it.

    spinach-worker and its dependencies from the lock, without the dev tools: the dev
    environment's OpenTelemetry SDK, for one, makes redis-py's import some 35 ms longer, which
    a worker host without that SDK does not pay (and the 0.0.25 venv does not hold it either).
    """
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to create the venv of this repository's side")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(
        [uv, "sync", "--quiet", "--locked", "--package", "spinach-worker", "--no-default-groups",
         "--compile-bytecode", "--python", sys.executable],
        check=True,
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    compile_sources()
    return venv / "bin" / "python"


def compile_sources() -> None:
    """Compile this repository's packages to bytecode, as an install from a wheel does.

    uv compiles what it installs, but the workspace's packages are installed editable, from their
    sources; where PYTHONDONTWRITEBYTECODE is set, every worker process would compile them again
    (about 0.13 s of each start here), which no installed Spinach pays.
    """
    for source in sorted((ROOT / "packages").glob("*/src")):
        if not compileall.compile_dir(source, quiet=1):
            raise SystemExit(f"Could not compile {source} to bytecode")


def make_sides(args: argparse.Namespace) -> list[Side]:
    base = {
        "enqueue_single": args.enqueue_jobs,
        "enqueue_batch": args.batch_jobs,
        "process": args.jobs,
        "process_incr": args.jobs,
        "latency": args.latency_jobs,
    }
    sides: list[Side] = []
    current_jobs = base | {phase: base[sync] for phase, sync in CURRENT_ONLY.items()}
    if args.only in ("both", "legacy"):
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        legacy_jobs = dict(base)
        if args.legacy_jobs is not None:
            legacy_jobs["process"] = legacy_jobs["process_incr"] = args.legacy_jobs
        if args.legacy_batch_jobs is not None:
            legacy_jobs["enqueue_batch"] = args.legacy_batch_jobs
        python = str(ensure_legacy_venv(args.legacy_venv))
        script = HERE / "legacy_bench.py"
        sides.append(Side("legacy", "spinach 0.0.25", python, script, env, legacy_jobs))
    if args.only in ("both", "current"):
        python = str(ensure_current_venv(args.current_venv))
        script = HERE / "current_bench.py"
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        sides.append(Side("current", "spinach (this repo)", python, script, env, current_jobs))
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
    task: str = "noop",
) -> dict[str, Any]:
    """Run one phase of one version in a fresh subprocess and return its JSON result."""
    log_path = BENCH_DIR / "logs" / f"{side.key}-{phase}-{task}-{attempt}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        side.python, str(side.script),
        "--redis-url", url,
        "--phase", phase,
        "--jobs", str(jobs),
        "--namespace", namespace,
        "--threads", str(args.threads),
        "--interval-ms", str(args.interval_ms),
        "--task", task,
    ]  # fmt: skip
    if side.key == "current" and args.prefetch is not None:
        command += ["--prefetch", str(args.prefetch)]
    if side.key == "current" and args.unique:
        command += ["--unique"]
    if side.key == "current" and args.priority:
        command += ["--priority", str(args.priority)]
    if side.key == "current" and args.rate_keys:
        command += ["--rate-keys"]
    if side.key == "current" and args.results:
        command += ["--results"]
    if side.key == "current" and args.group:
        command += ["--group", str(args.group)]
    with log_path.open("w") as log:
        try:
            # Taken last before the spawn: the process phases count their rate from it.
            command += ["--spawned-at", repr(time.time())]
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


def measure(sides: list[Side], args: argparse.Namespace, url: str, client: redis.Redis) -> None:
    """Run every phase `repeat` times, the versions alternating, each from a clean Redis."""
    for phase in PRIMARY:
        for attempt in range(1, args.repeat + 1):
            for side in sides:
                if phase in side.jobs:  # the asyncio phases: this repo only
                    _measure_once(side, args, url, client, phase, attempt)
    current = next((side for side in sides if side.key == "current"), None)
    if current is not None:
        for floor, (script_phase, task) in FLOORS.items():
            for attempt in range(1, args.repeat + 1):
                jobs = current.jobs[_FLOOR_JOBS.get(floor, "process")]
                try:
                    reset(client)
                    result = run_phase(
                        current, args, url, script_phase, jobs, "floor", attempt, task
                    )
                    current.floors.setdefault(floor, []).append(result)
                except PhaseError as e:
                    current.errors[f"{floor} run {attempt}"] = str(e)
            print(f"  floor {floor:<30} measured", file=sys.stderr)
    for side in sides:
        for phase, runs in side.runs.items():
            side.results[phase] = median_result(runs, PRIMARY[phase])
        for floor, runs in side.floors.items():
            side.results[floor] = median_result(runs, _FLOOR_RANKED_BY.get(floor, "rate"))


#: The phase whose job count each floor takes (the others: the processing phase's).
_FLOOR_JOBS = {
    "floor_enqueue_single": "enqueue_batch",
    "floor_enqueue_batch": "enqueue_batch",
    "floor_round_trip": "latency",
}

#: What ranks a floor's runs for its median (the others: their rate).
_FLOOR_RANKED_BY = {"floor_round_trip": "p50_ms"}


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
    script_phase, task = SCRIPT_PHASE.get(phase, (phase, "noop"))
    try:
        reset(client)
        if script_phase == "process":
            run_phase(side, args, url, "prefill", jobs, namespace, attempt, task)
            if (queued := _queued(client, side, namespace)) != jobs:
                raise PhaseError(f"prefill left {queued} jobs queued, not {jobs}")
            reset(client, flush=False)
        result = run_phase(side, args, url, script_phase, jobs, namespace, attempt, task)
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
        from spinach.keys import queue_keys  # this repo's layout, whatever its schema

        keys = queue_keys(namespace, "spinach")
        return int(client.llen(keys.ready)) + int(client.zcard(keys.ranked))  # any priority
    return int(client.llen(key))


# -- the machine and the code measured -------------------------------------------------------


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


def machine_info(server: RedisServer, client: redis.Redis, sides: list[Side]) -> dict[str, Any]:
    cpu_model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run([server.executable, "--version"], capture_output=True, text=True)
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
        "redis_server": version.stdout.strip(),
        "redis_version": client.info("server")["redis_version"],
        "versions": versions,
    }


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
    with throwaway_redis() as (server, client):
        url = server.url
        print(f"Benchmarking against {url}", file=sys.stderr)
        measure(sides, args, url, client)
        machine = machine_info(server, client, sides) | {"loadavg_at_start": load}
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
    print("Against the targets of issue 'Schema 3' (medians of this run):")
    for line in targets(sides):
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
                "floors": {s.key: s.floors for s in sides if s.floors},
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
        not run["executions_ok"]
        for s in sides
        for phase in ("process", "process_incr")
        for run in s.runs.get(phase, [])
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
