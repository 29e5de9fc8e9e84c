"""Process workers and Prometheus metrics, measured: ``just bench-processes``.

Two phases, each on a throwaway redis-server, each run `--repeat` times (the versions of a phase
alternate), reported as median with the min-max spread:

- ``cpu``: CPU-bound jobs (pure Python, about 10 ms each here) drained by ``spinach-worker``
  with one process, then with N processes (N = the cores of this machine), the same threads
  each. One process is held to one core by the GIL; N processes should scale with the cores
  left over by Redis and the system.
- ``metrics``: no-op jobs drained by one process with and without ``--metrics``: what counting
  every job for Prometheus costs. Plus the cost of one hook call and of one scrape, in-process.

Throughput counts from the first job started to the last job finished (each worker process
notes both moments in memory and writes them to Redis once, at exit), so the start-up of the
processes is not in it. Not part of ``just bench``: it compares this version with itself, and
Spinach 0.0.25 has no process workers.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tools/, for redis_server.py

from redis_server import RedisServer, free_port

APP = """
import atexit
import json
import os
import time

import redis

from spinach import Engine, RedisBroker, Tasks

URL = os.environ["BENCH_REDIS_URL"]
tasks = Tasks()
span = [float("inf"), 0.0, 0]


@tasks.task(name="burn")
def burn(n):
    started = time.time()
    total = 0
    for i in range(n):  # CPU-bound: holds the GIL throughout
        total += i * i
    _note(started)


@tasks.task(name="noop")
def noop():
    _note(time.time())


def _note(started):
    span[0] = min(span[0], started)
    span[1] = time.time()
    span[2] += 1


@atexit.register
def _report():
    if span[2]:
        redis.Redis.from_url(URL).rpush("spans", json.dumps(span))


spin = Engine(RedisBroker.from_url(URL), namespace="bench")
spin.attach_tasks(tasks)
"""


def run_phase(
    server: RedisServer,
    app_dir: Path,
    task: str,
    args: tuple[Any, ...],
    jobs: int,
    flags: list[str],
) -> dict[str, float]:
    """Enqueue `jobs`, drain them with ``spinach-worker <flags>``; return throughput figures."""
    from spinach import Batch, Engine, RedisBroker, Tasks

    client = server.client()
    client.flushall()
    spin = Engine(RedisBroker.from_url(server.url), namespace="bench")
    tasks = Tasks()
    tasks.add(lambda *a: None, name=task)
    spin.attach_tasks(tasks)
    for start in range(0, jobs, 5000):
        batch = Batch()
        for _ in range(min(5000, jobs - start)):
            batch.schedule(task, *args)
        spin.schedule_batch(batch)
    command = [sys.executable, "-m", "spinach_worker.cli", "benchapp:spin",
               "--stop-when-queue-empty", "--log-level", "WARNING", *flags]  # fmt: skip
    began = time.monotonic()
    result = subprocess.run(
        command, cwd=app_dir, env={**os.environ, "BENCH_REDIS_URL": server.url},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    wall = time.monotonic() - began
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    spans = [json.loads(raw) for raw in client.lrange("spans", 0, -1)]
    done = sum(int(s[2]) for s in spans)
    if done != jobs:
        raise RuntimeError(f"{done} of {jobs} jobs ran")
    seconds = max(s[1] for s in spans) - min(s[0] for s in spans)
    return {"jobs_per_s": jobs / seconds, "seconds": seconds, "wall_s": wall}


def summary(label: str, runs: list[dict[str, float]]) -> str:
    rates = sorted(r["jobs_per_s"] for r in runs)
    return (
        f"{label:<34} {statistics.median(rates):>9,.0f} jobs/s   "
        f"(runs {rates[0]:,.0f} .. {rates[-1]:,.0f})"
    )


def cpu_phase(server: RedisServer, app_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    configs = {
        "1 process": ["--processes", "1", "--threads", str(args.threads)],
        f"{cores} processes": ["--processes", str(cores), "--threads", str(args.threads)],
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    for _ in range(args.repeat):
        for name, flags in configs.items():
            runs[name].append(
                run_phase(server, app_dir, "burn", (args.work,), args.cpu_jobs, flags)
            )
    one, many = (statistics.median(r["jobs_per_s"] for r in v) for v in runs.values())
    print(f"\nCPU-bound jobs ({args.cpu_jobs} of range({args.work}) squares, "
          f"{args.threads} threads per process, {cores} cores):")  # fmt: skip
    for name, values in runs.items():
        print("  " + summary(name, values))
    print(f"  speed-up with {cores} processes: {many / one:.2f}x (median over median)")
    print(f"  load average after the phase: {_load()} (other work on the machine skews it)")
    return {"cores": cores, "runs": runs, "speedup": many / one}


def metrics_phase(server: RedisServer, app_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    configs = {
        "metrics off": ["--threads", str(args.noop_threads)],
        "metrics on (--metrics)": ["--threads", str(args.noop_threads), "--metrics",
                                   "--health-port", str(free_port()), "--health-host", "127.0.0.1"],
    }  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    for _ in range(args.repeat):
        for name, flags in configs.items():
            runs[name].append(run_phase(server, app_dir, "noop", (), args.noop_jobs, flags))
    off, on = (statistics.median(r["jobs_per_s"] for r in v) for v in runs.values())
    hook = hook_cost()
    print(f"\nNo-op jobs ({args.noop_jobs}, one process of {args.noop_threads} threads):")
    for name, values in runs.items():
        print("  " + summary(name, values))
    print(f"  throughput with metrics: {on / off:.3f}x of without (median over median)")
    print(f"  one job's hook, off: {hook['off_us']:.2f} us; on: {hook['on_us']:.2f} us; "
          f"on, multiprocess files: {hook['multiprocess_us']:.2f} us")  # fmt: skip
    print(f"  one scrape of 20 tasks' metrics: {hook['scrape_ms']:.2f} ms")
    print(f"  load average after the phase: {_load()}")
    return {"runs": runs, "ratio": on / off, "hook": hook}


HOOK = """
import json, sys, timeit
from spinach.brokers.base import Outcome
from spinach.job import Job, JobStatus
from spinach_worker import telemetry
from spinach.utils import now_utc
job = Job._scheduled("t", "q", now_utc(), 0, JobStatus.RUNNING, (), {}, "id")
outcome = Outcome("s", "id")
def hook():
    if telemetry.observed():
        telemetry.finished(None, job, outcome, None, 0.01)
off = min(timeit.repeat(hook, number=20000, repeat=3)) / 20000 * 1e6
telemetry.prometheus().enable()
on = min(timeit.repeat(hook, number=20000, repeat=3)) / 20000 * 1e6
print(json.dumps({"off_us": off, "on_us": on}))
"""


def hook_cost() -> dict[str, float]:
    """The per-job cost of the hook (off, on, on in multiprocess mode) and of one scrape."""
    figures: dict[str, float] = {}
    plain = subprocess.run([sys.executable, "-c", HOOK], capture_output=True, text=True, check=True)
    figures.update(json.loads(plain.stdout))
    with tempfile.TemporaryDirectory() as directory:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
        multi = subprocess.run(
            [sys.executable, "-c", HOOK], capture_output=True, text=True, check=True, env=env
        )
        figures["multiprocess_us"] = json.loads(multi.stdout)["on_us"]
    from spinach_worker import telemetry

    prometheus = telemetry.prometheus()
    prometheus.enable()
    sink = telemetry._sink
    assert sink is not None
    for task in range(20):
        for outcome in ("succeeded", "failed", "retried"):
            sink.finished("q", f"task-{task}", outcome, 0.01)
    figures["scrape_ms"] = min(timeit.repeat(prometheus.page, number=200, repeat=3)) / 200 * 1e3
    prometheus.disable()
    return figures


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("cpu", "metrics", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration")
    parser.add_argument("--threads", type=int, default=2, help="threads per process, CPU jobs")
    parser.add_argument("--cpu-jobs", type=int, default=600, help="CPU-bound jobs per run")
    parser.add_argument("--work", type=int, default=60_000, help="loop length of a CPU job")
    parser.add_argument("--noop-jobs", type=int, default=20_000, help="no-op jobs per run")
    parser.add_argument("--noop-threads", type=int, default=8, help="threads for no-op jobs")
    parser.add_argument("--output", type=Path, default=Path(".bench/processes.json"))
    args = parser.parse_args()
    print(f"load average before: {_load()} on {os.cpu_count()} cores")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as app:
        app_dir = Path(app)
        (app_dir / "benchapp.py").write_text(textwrap.dedent(APP))
        server = RedisServer(["--save", "", "--appendonly", "no"])
        server.start()
        try:
            if args.phase in ("cpu", "both"):
                results["cpu"] = cpu_phase(server, app_dir, args)
            if args.phase in ("metrics", "both"):
                results["metrics"] = metrics_phase(server, app_dir, args)
        finally:
            server.cleanup()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"\nRaw runs: {args.output}")


if __name__ == "__main__":
    main()
