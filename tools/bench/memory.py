"""Measure the Redis memory that processed and failed jobs leave behind, and that it stays bounded.

Run as ``uv run --locked --all-packages python tools/bench/memory.py [--jobs 200000]`` (or
``just memory``). Everything runs against a throwaway redis-server on a free loopback port,
never a shared one. Each scenario starts from FLUSHALL on a fresh namespace, enqueues its jobs
with schedule_batch() in chunks, then drains them with one in-process
``start_workers(number=8, block=True, stop_when_queue_empty=True)``:

- success, default Retention: what N succeeded jobs leave (records capped by max_finished);
- success, Retention(finished=0): no success record at all, the cost of records by difference,
  and the throughput with and without them;
- failure, default Retention: what N jobs that failed for good leave (the failed store);
- bound: Retention(max_finished=10_000, max_failed=1_000), N successes then N failures;
- age: Retention(finished=1 s, failed=1 s); once the age passed, expire_records() alone (the
  workers are stopped) must empty both stores.

Then both success settings run again, alternating, until each has `--repeat` processing runs:
the throughput table shows their medians (jobs/s and Redis CPU per job) and their range.

Memory is INFO memory's used_memory and used_memory_dataset, plus MEMORY USAGE (SAMPLES 0, so
exact) of every key of the namespace, grouped by structure. The table goes to stdout and the
raw numbers to .bench/memory.json.
"""

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tools/, for redis_server.py

import redis
from redis_server import RedisServer
from report import render

import spinach
from spinach.keys import namespace_patterns, queue_keys, queues_key

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "spinach"
MB = 1_000_000
#: Key suffixes that carry an id, a token or a task name: grouped as one structure each.
_DYNAMIC = ("token:", "wake:", "parked:")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--jobs", type=int, default=200_000, help="jobs per scenario (default %(default)s)")
    add(
        "--age-jobs",
        type=int,
        default=20_000,
        help="jobs of each kind in the age scenario (default %(default)s)",
    )
    add("--threads", type=int, default=8, help="worker threads (default %(default)s)")
    add(
        "--repeat",
        type=int,
        default=3,
        help="processing runs of each setting for the throughput table (default %(default)s)",
    )
    add("--chunk", type=int, default=10_000, help="jobs per schedule_batch() (default %(default)s)")
    add(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds before one processing run is stopped as failed (default %(default)s)",
    )
    add(
        "--output",
        type=Path,
        default=ROOT / ".bench" / "memory.json",
        help="raw JSON results (default %(default)s)",
    )
    return parser.parse_args()


class _DropFinalFailures(logging.Filter):
    """Keep the worker's log readable: 200,000 tracebacks of the failing task say nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "failed for good" not in record.msg


# -- what Redis holds --------------------------------------------------------------------------


def memory(client: redis.Redis) -> dict[str, int]:
    """The INFO memory figures this report uses (bytes)."""
    info: dict[str, Any] = client.info("memory")
    names = ("used_memory", "used_memory_dataset", "used_memory_overhead", "used_memory_rss",
             "used_memory_scripts", "used_memory_lua")  # fmt: skip
    return {name: int(info[name]) for name in names if name in info}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def structure_of(key: str, namespace: str) -> str:
    """The structure a key of `namespace` belongs to: its suffix, ids replaced by '*'."""
    if key == queues_key(namespace):
        return "queues (namespace)"
    base = queue_keys(namespace, QUEUE).schema.removesuffix("schema")
    suffix = key.removeprefix(base)
    for dynamic in _DYNAMIC:
        if suffix.startswith(dynamic):
            return dynamic + "*"
    return suffix


def structures(client: redis.Redis, namespace: str) -> dict[str, dict[str, Any]]:
    """Every key of `namespace` (SCAN: this is a throwaway server), grouped, with its bytes."""
    sizes = {"hash": "hlen", "list": "llen", "zset": "zcard", "set": "scard", "string": "strlen"}
    found: dict[str, dict[str, Any]] = {}
    for pattern in namespace_patterns(namespace):
        for raw in client.scan_iter(match=pattern, count=1000):
            key = _text(raw)
            kind = _text(client.type(key))
            entry = found.setdefault(
                structure_of(key, namespace), {"type": kind, "keys": 0, "items": 0, "bytes": 0}
            )
            entry["keys"] += 1
            entry["items"] += int(getattr(client, sizes[kind])(key)) if kind in sizes else 0
            entry["bytes"] += int(client.memory_usage(key, samples=0) or 0)
    return dict(sorted(found.items(), key=lambda item: -int(item[1]["bytes"])))


class PeakSampler:
    """Poll used_memory from a thread of its own (and once at the end): a processing run's peak."""

    def __init__(self, server: RedisServer, interval: float = 0.2) -> None:
        self._client = server.client()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, memory(self._client)["used_memory"])  # a short run's end
        self._client.close()

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, memory(self._client)["used_memory"])
            if self._stop.wait(self._interval):
                return


# -- the scenarios -----------------------------------------------------------------------------


@dataclass
class Counter:
    """Task executions from any worker thread, and when the last one ended."""

    count: int = 0
    last_done: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self) -> None:
        with self.lock:
            self.count += 1
            self.last_done = time.perf_counter()


class Lab:
    """The throwaway server and the steps every scenario is made of."""

    def __init__(self, server: RedisServer, args: argparse.Namespace) -> None:
        self.server = server
        self.client = server.client()
        self.args = args
        self.counter = Counter()
        self.engine: spinach.Engine | None = None
        self.namespace = ""
        self.baseline: dict[str, int] = {}

    def fresh(self, retention: spinach.Retention | None) -> spinach.Engine:
        """FLUSHALL, then an Engine on a new namespace (Retention left alone when None)."""
        if self.engine is not None:
            self.engine.broker.close()
        self.client.flushall()
        self.namespace = f"memory-{uuid.uuid4().hex[:8]}"
        broker = spinach.RedisBroker.from_url(self.server.url)
        engine = spinach.Engine(broker, namespace=self.namespace, retention=retention)
        tasks = spinach.Tasks(queue=QUEUE, max_retries=0)
        counter = self.counter

        def ok() -> None:
            counter.hit()

        def boom() -> None:
            counter.hit()
            raise RuntimeError("boom")

        tasks.task(name="ok")(ok)
        tasks.task(name="boom")(boom)
        engine.attach_tasks(tasks)
        engine.broker.queue_stats(QUEUE)  # loads a script: the baseline holds the script cache
        self.engine = engine
        self.baseline = memory(self.client)
        return engine

    def enqueue(self, task: str, jobs: int) -> float:
        """Send `jobs` jobs of `task` in schedule_batch() chunks; return the seconds it took."""
        assert self.engine is not None
        started = time.perf_counter()
        for start in range(0, jobs, self.args.chunk):
            batch = spinach.Batch()
            for _ in range(min(self.args.chunk, jobs - start)):
                batch.schedule(task)
            self.engine.schedule_batch(batch)
        return time.perf_counter() - started

    def process(self, jobs: int) -> dict[str, Any]:
        """Drain the queue with real worker threads; return rates, peak memory and Redis CPU."""
        engine = self.engine
        assert engine is not None
        counter = self.counter
        counter.count = 0
        cpu_before = _redis_cpu(self.client)
        watchdog = threading.Timer(self.args.timeout, engine.stop_workers)
        watchdog.name = "memory-watchdog"
        watchdog.start()
        with PeakSampler(self.server) as sampler:
            started = time.perf_counter()
            engine.start_workers(
                number=self.args.threads, queue=QUEUE, block=True, stop_when_queue_empty=True
            )
            stopped = time.perf_counter()
        watchdog.cancel()
        stats = engine.broker.queue_stats(QUEUE)
        if counter.count != jobs or stats.ready or stats.delayed or stats.running:
            raise SystemExit(
                f"processing stopped after {counter.count} of {jobs} executions "
                f"(queue: {stats}); raise --timeout if the machine is slow"
            )
        to_last = counter.last_done - started
        return {
            "jobs": jobs,
            "seconds_to_last_job": to_last,
            "seconds_with_stop": stopped - started,
            "rate": jobs / to_last,
            "rate_with_stop": jobs / (stopped - started),
            "redis_cpu_us_per_job": (_redis_cpu(self.client) - cpu_before) * 1e6 / jobs,
            "peak_used_memory": sampler.peak,
        }

    def snapshot(self, label: str) -> dict[str, Any]:
        """Memory now, against this scenario's baseline, and per structure."""
        now = memory(self.client)
        parts = structures(self.client, self.namespace)
        return {
            "label": label,
            "memory": now,
            "delta": now["used_memory"] - self.baseline["used_memory"],
            "delta_dataset": now["used_memory_dataset"] - self.baseline["used_memory_dataset"],
            "done_records": parts.get("done", {}).get("items", 0),
            "failed_records": parts.get("failed", {}).get("items", 0),
            "structures": parts,
        }

    def newest_record_ms(self) -> int:
        """When the newest finished or failed record was written (Redis ms), 0 without any."""
        k = queue_keys(self.namespace, QUEUE)
        newest = 0
        last = self.client.lindex(k.done_index, -1)
        if last:
            newest = int(_text(last).split(":", 1)[0])
        newest_failed: list[Any] = self.client.zrange(k.failed_index, -1, -1, withscores=True)
        for _, score in newest_failed:
            newest = max(newest, int(score))
        return newest

    def redis_ms(self) -> int:
        seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000


def _redis_cpu(client: redis.Redis) -> float:
    cpu: dict[str, Any] = client.info("cpu")
    return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])


def warm_up(lab: Lab) -> None:
    """Load every script once (the script cache and Lua VM count in used_memory), import the
    worker, so that no scenario's delta holds them."""
    engine = lab.fresh(None)
    lab.enqueue("ok", 100)
    lab.enqueue("boom", 100)
    lab.process(200)
    engine.broker.expire_records(QUEUE)


def scenario_processed(lab: Lab, task: str, retention: spinach.Retention | None) -> dict[str, Any]:
    """N jobs of `task` enqueued then processed on a fresh namespace."""
    jobs = lab.args.jobs
    lab.fresh(retention)
    result: dict[str, Any] = {"retention": repr(lab.engine.broker.retention)}  # type: ignore[union-attr]
    result["baseline"] = lab.baseline
    result["enqueue_seconds"] = lab.enqueue(task, jobs)
    result["queued"] = lab.snapshot(f"{jobs:,} queued")
    result["process"] = lab.process(jobs)
    result["after"] = lab.snapshot("after processing")
    return result


def scenario_bound(lab: Lab) -> dict[str, Any]:
    """Small caps: N successes then N failures, and what is left after each."""
    jobs = lab.args.jobs
    retention = spinach.Retention(max_finished=10_000, max_failed=1_000)
    lab.fresh(retention)
    result: dict[str, Any] = {"retention": repr(retention), "baseline": lab.baseline}
    for task, name in (("ok", "succeeded"), ("boom", "failed")):
        lab.enqueue(task, jobs)
        result[f"process_{name}"] = lab.process(jobs)
        result[f"after_{name}"] = lab.snapshot(f"after {jobs:,} {name}")
    return result


def scenario_age(lab: Lab) -> dict[str, Any]:
    """Records past their age are dropped by expire_records() alone, the workers stopped."""
    jobs = lab.args.age_jobs
    age = timedelta(seconds=1)
    retention = spinach.Retention(finished=age, failed=age)
    engine = lab.fresh(retention)
    lab.enqueue("ok", jobs)
    lab.enqueue("boom", jobs)
    result: dict[str, Any] = {"retention": repr(retention), "baseline": lab.baseline}
    result["process"] = lab.process(2 * jobs)
    result["after"] = lab.snapshot("right after processing")
    # The records' age is counted on Redis's clock: wait on it, not on ours.
    due = lab.newest_record_ms() + int(age / timedelta(milliseconds=1)) + 1
    deadline = time.monotonic() + 30
    while lab.redis_ms() <= due:
        if time.monotonic() > deadline:
            raise SystemExit("Redis's clock did not pass the records' age within 30 s")
        time.sleep(0.05)
    calls = dropped = 0
    while count := engine.broker.expire_records(QUEUE):
        calls += 1
        dropped += count
    result["expire_calls"] = calls + 1  # the last one found nothing left to drop
    result["expire_dropped"] = dropped
    result["expired"] = lab.snapshot("after the age, expire_records()")
    return result


def throughput_runs(lab: Lab, results: dict[str, Any]) -> dict[str, Any]:
    """More processing runs of both success settings, alternating, beside the scenarios' own."""
    runs: dict[str, list[dict[str, Any]]] = {
        "default": [results["success_default"]["process"]],
        "no_records": [results["success_no_records"]["process"]],
    }
    settings = (("default", None), ("no_records", spinach.Retention(finished=timedelta(0))))
    for _ in range(lab.args.repeat - 1):
        for key, retention in settings:
            lab.fresh(retention)
            lab.enqueue("ok", lab.args.jobs)
            runs[key].append(lab.process(lab.args.jobs))
    return runs


# -- the report --------------------------------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / MB:,.2f}"


def memory_table(results: dict[str, Any], jobs: int) -> list[list[str]]:
    header = ["scenario, state", "used_memory MB", "delta MB", "dataset delta MB",
              "records kept (done / failed)", "bytes/record", "bytes/processed job"]  # fmt: skip
    lines = [header]
    aged, twice = 2 * results["args"]["age_jobs"], 2 * jobs
    # (title, scenario, its states with the jobs processed by then; 0 while they are queued)
    rows = [
        ("success, default Retention", "success_default", (("queued", 0), ("after", jobs))),
        ("success, Retention(finished=0)", "success_no_records", (("queued", 0), ("after", jobs))),
        ("failure, default Retention", "failure_default", (("queued", 0), ("after", jobs))),
        ("bound (10,000 / 1,000)", "bound", (("after_succeeded", jobs), ("after_failed", twice))),
        ("age 1 s", "age", (("after", aged), ("expired", aged))),
    ]
    for title, key, states in rows:
        scenario = results[key]
        lines.append([title, _mb(scenario["baseline"]["used_memory"]), "0.00", "0.00",
                      "(baseline after FLUSHALL)", "-", "-"])  # fmt: skip
        for state, processed in states:
            snap = scenario[state]
            records = snap["done_records"] + snap["failed_records"]
            lines.append([
                f"  {snap['label']}",
                _mb(snap["memory"]["used_memory"]),
                _mb(snap["delta"]),
                _mb(snap["delta_dataset"]),
                f"{snap['done_records']:,} / {snap['failed_records']:,}",
                f"{snap['delta'] / records:,.0f}" if records else "-",
                f"{snap['delta'] / processed:,.1f}" if processed
                else f"{snap['delta'] / jobs:,.0f} (queued)",
            ])  # fmt: skip
        peaks = [value["peak_used_memory"] for name, value in scenario.items()
                 if name.startswith("process")]  # fmt: skip
        lines.append(["  peak while processing", _mb(max(peaks)), "", "", "", "", ""])
    return lines


def structure_table(results: dict[str, Any]) -> list[list[str]]:
    lines = [["structure (MEMORY USAGE, SAMPLES 0)", "type", "keys", "items", "MB", "bytes/item"]]
    picks = [
        ("success, default", results["success_default"]["after"]),
        ("failure, default", results["failure_default"]["after"]),
        ("success, finished=0", results["success_no_records"]["after"]),
        ("bound, after failures", results["bound"]["after_failed"]),
        ("age, after expire_records", results["age"]["expired"]),
    ]
    for title, snap in picks:
        lines.append([f"{title}:", "", "", "", "", ""])
        for name, entry in snap["structures"].items():
            items = entry["items"]
            lines.append([
                f"  {name}", entry["type"], f"{entry['keys']:,}", f"{items:,}",
                _mb(entry["bytes"]), f"{entry['bytes'] / items:,.0f}" if items else "-",
            ])  # fmt: skip
    return lines


def throughput_table(results: dict[str, Any]) -> list[list[str]]:
    """Medians over the runs of each setting, and their range: how far to trust the ratio."""
    with_records, without = results["throughput"]["default"], results["throughput"]["no_records"]
    header = [f"processing succeeded jobs (median of {len(with_records)})", "default Retention",
              "finished=0", "ratio"]  # fmt: skip
    lines = [header]
    for label, key, digits in (
        ("start to last job done (jobs/s)", "rate", 0),
        ("start to workers stopped (jobs/s)", "rate_with_stop", 0),
        ("Redis CPU us/job", "redis_cpu_us_per_job", 1),
    ):
        a = statistics.median(run[key] for run in with_records)
        b = statistics.median(run[key] for run in without)
        lines.append([label, f"{a:,.{digits}f}", f"{b:,.{digits}f}", f"{a / b:.2f}x"])
    ranges = [
        f"{min(r['rate'] for r in runs):,.0f} .. {max(r['rate'] for r in runs):,.0f}"
        for runs in (with_records, without)
    ]
    lines.append(["range of the runs, to last job (jobs/s)", *ranges, "-"])
    return lines


def machine(server: RedisServer, client: redis.Redis) -> dict[str, Any]:
    cpu_model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run([server.executable, "--version"], capture_output=True, text=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    )
    info: dict[str, Any] = client.info("server")
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "redis_server": version.stdout.strip(),
        "redis_version": info["redis_version"],
        "spinach": spinach.__version__,
        "commit": commit.stdout.strip(),
        "loadavg_at_start": os.getloadavg(),
    }


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("spinach.worker").addFilter(_DropFinalFailures())
    started = time.perf_counter()
    try:
        server = RedisServer()
        server.start(attempts=3)  # another process may grab the port between probe and bind
    except RuntimeError as e:
        raise SystemExit(str(e)) from None
    lab = Lab(server, args)
    results: dict[str, Any] = {"args": {k: str(v) if isinstance(v, Path) else v
                                        for k, v in vars(args).items()}}  # fmt: skip
    try:
        print(f"Measuring on {server.url}", file=sys.stderr)
        results["machine"] = machine(server, lab.client)
        results["empty_server"] = memory(lab.client)
        warm_up(lab)
        steps: tuple[tuple[str, Callable[[], dict[str, Any]]], ...] = (
            ("success_default", lambda: scenario_processed(lab, "ok", None)),
            ("success_no_records", lambda: scenario_processed(
                lab, "ok", spinach.Retention(finished=timedelta(0)))),
            ("failure_default", lambda: scenario_processed(lab, "boom", None)),
            ("bound", lambda: scenario_bound(lab)),
            ("age", lambda: scenario_age(lab)),
            ("throughput", lambda: throughput_runs(lab, results)),
        )  # fmt: skip
        for name, step in steps:
            print(f"  {name} ...", end="", file=sys.stderr, flush=True)
            step_started = time.perf_counter()
            results[name] = step()
            print(f" {time.perf_counter() - step_started:.1f} s", file=sys.stderr)
    finally:
        if lab.engine is not None:
            lab.engine.broker.close()
        lab.client.close()
        server.cleanup()
    results["seconds"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")

    m = results["machine"]
    print(f"\nSpinach {m['spinach']} (commit {m['commit']}): Redis memory of finished jobs\n")
    print(f"nproc {m['nproc']} (usable {m['cpus_usable']}), {m['cpu_model']}, {m['platform']}")
    print(f"Python {m['python']}; {m['redis_server']}")
    print(f"empty server: used_memory {_mb(results['empty_server']['used_memory'])} MB; "
          f"{args.jobs:,} jobs per scenario, {args.threads} worker threads, "
          f"schedule_batch() chunks of {args.chunk:,}\n")  # fmt: skip
    print(render(memory_table(results, args.jobs)))
    age = results["age"]
    print(f"\nage 1 s: {age['after']['done_records']:,} done + "
          f"{age['after']['failed_records']:,} failed records right after processing; "
          f"expire_records() dropped {age['expire_dropped']:,} in {age['expire_calls']} calls "
          "once Redis's clock passed the newest record's age\n")  # fmt: skip
    print(render(throughput_table(results)))
    print()
    print(render(structure_table(results)))
    print(f"\nMB = 10^6 bytes. Ran in {results['seconds']:.0f} s; raw numbers in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
