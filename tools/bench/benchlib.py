"""Benchmark phases shared by the current Spinach and Spinach 0.0.25.

Each version runs in its own virtual environment, so this module imports only the standard
library and redis-py at top level: the bench script of each version hands in its own `spinach`
module, and the very same code measures both. One phase runs per process and prints one line of
JSON on stdout, so a worker's peak RSS is not inflated by what an earlier phase allocated.
"""

import argparse
import asyncio
import json
import platform
import resource
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import redis
from redis.connection import AbstractConnection, Connection

QUEUE = "spinach"
PHASES = (
    "enqueue_single", "enqueue_batch", "prefill", "process", "latency",
    "floor_process", "floor_enqueue_single", "floor_enqueue_batch", "floor_round_trip",
    "aio_enqueue_single", "aio_enqueue_batch",
)  # fmt: skip

#: The two jobs the processing phases run: one that only counts, one that also makes one
#: Redis round trip of its own (an INCR), as most real jobs talk to something.
TASKS = ("noop", "incr")

#: Commands that only the measuring side sends (INFO snapshots, CONFIG RESETSTAT).
_PROBE_COMMANDS = ("cmdstat_info", "cmdstat_config")
_SCRIPT_CALLS = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_evalsha_ro", "cmdstat_eval_ro")


@dataclass(frozen=True)
class Flavor:
    """What differs between the two versions: the package and how a broker is built."""

    name: str
    version: str
    spinach: ModuleType
    make_broker: Callable[[str], Any]
    #: The asyncio client over an Engine and a URL, for versions that have one.
    make_async_engine: Callable[[Any, str], Any] | None = None


# -- client round trips ----------------------------------------------------------------------
# Redis counts the commands a script runs like any other, so the server cannot tell round trips
# from script internals. Every request a redis-py connection writes goes through
# send_packed_command (a pipeline writes once), so counting its calls counts round trips.


class _SendCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def hit(self) -> None:
        with self._lock:
            self.value += 1


SENDS = _SendCounter()
_original_send: Callable[..., None] = AbstractConnection.send_packed_command


def _counting_send(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
    SENDS.hit()
    _original_send(self, command, check_health)


setattr(AbstractConnection, "send_packed_command", _counting_send)  # noqa: B010


def _count_async_sends() -> None:
    """Count the requests of redis.asyncio connections too (the asyncio client's phases)."""
    from redis.asyncio.connection import AbstractConnection as AsyncConnection

    original = AsyncConnection.send_packed_command

    async def counting(self: Any, command: Any, check_health: bool = True) -> None:
        SENDS.hit()
        await original(self, command, check_health)

    setattr(AsyncConnection, "send_packed_command", counting)  # noqa: B010


class UncountedConnection(Connection):
    """The probe's own connection, so its INFO calls are not counted as the bench's."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        _original_send(self, command, check_health)


# -- measurements ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Server and process counters at one instant."""

    calls: dict[str, int]
    redis_cpu: float
    sends: int
    process_cpu: float
    wall: float
    usage: resource.struct_rusage


class Probe:
    """Reads Redis's counters around a measured span, on a connection of its own."""

    def __init__(self, url: str) -> None:
        self._r = redis.Redis.from_url(url, connection_class=UncountedConnection)

    def snapshot(self) -> Snapshot:
        stats = self._r.info("commandstats")
        cpu = self._r.info("cpu")
        return Snapshot(
            calls={name: int(value["calls"]) for name, value in stats.items()},
            redis_cpu=float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
            sends=SENDS.value,
            process_cpu=time.process_time(),
            wall=time.perf_counter(),
            usage=resource.getrusage(resource.RUSAGE_SELF),
        )

    def queue_length(self, key: str) -> int:
        return int(self._r.llen(key))

    def close(self) -> None:
        self._r.close()


def cost(before: Snapshot, after: Snapshot, jobs: int) -> dict[str, Any]:
    """Redis commands, round trips and CPU spent between two snapshots, per job."""
    calls = {
        name.removeprefix("cmdstat_"): after.calls[name] - before.calls.get(name, 0)
        for name in after.calls
        if not name.startswith(_PROBE_COMMANDS) and after.calls[name] != before.calls.get(name, 0)
    }
    total = sum(calls.values())
    scripts = sum(calls.get(name.removeprefix("cmdstat_"), 0) for name in _SCRIPT_CALLS)
    per = max(jobs, 1)
    was, now = before.usage, after.usage
    return {
        "redis_commands": total,
        "redis_commands_per_job": total / per,
        "script_calls": scripts,
        "script_calls_per_job": scripts / per,
        "client_round_trips": after.sends - before.sends,
        "client_round_trips_per_job": (after.sends - before.sends) / per,
        "redis_cpu_us_per_job": (after.redis_cpu - before.redis_cpu) * 1e6 / per,
        "process_cpu_us_per_job": (after.process_cpu - before.process_cpu) * 1e6 / per,
        # The kernel's share and the thread switches tell handoff costs from Python work.
        "process_user_us_per_job": (now.ru_utime - was.ru_utime) * 1e6 / per,
        "process_sys_us_per_job": (now.ru_stime - was.ru_stime) * 1e6 / per,
        "context_switches_per_job": (now.ru_nvcsw - was.ru_nvcsw + now.ru_nivcsw - was.ru_nivcsw)
        / per,
        "commands": dict(sorted(calls.items(), key=lambda item: -item[1])),
    }


def ru_maxrss_mib() -> float:
    """getrusage's peak RSS (KiB on Linux); kept in the JSON for reference only.

    Linux carries ru_maxrss across execve, so a child spawned by a 300 MiB parent reports at
    least 300 MiB: it measures whoever started the worker as much as the worker.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mib() -> float:
    """Peak RSS of this process image since it started (VmHWM), or ru_maxrss without /proc."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return ru_maxrss_mib()


class Tally:
    """Counts task executions from any worker thread, and when the last one ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.last_done = 0.0
        #: time.time() of the first and last job done: comparable with the spawn time of the
        #: process, which run.py takes with the same clock just before it starts the process.
        self.first_done_wall = 0.0
        self.last_done_wall = 0.0
        self.latencies: list[float] = []
        self.expected = 0
        self.all_done = threading.Event()

    def hit(self) -> None:
        with self._lock:
            self.count += 1
            self.last_done = time.perf_counter()
            self.last_done_wall = time.time()
            if self.count == 1:
                self.first_done_wall = self.last_done_wall

    def record_latency(self, sent: float) -> None:
        latency = time.time() - sent
        with self._lock:
            self.latencies.append(latency)
            if len(self.latencies) >= self.expected:
                self.all_done.set()


# -- phases ----------------------------------------------------------------------------------


class Bench:
    """One Engine of one version on a fresh namespace, with the tasks every phase uses."""

    def __init__(self, flavor: Flavor, url: str, namespace: str, rate_keys: bool = False) -> None:
        self.flavor = flavor
        #: Every job under a rate limit, each with a rate key of its own (this repo only): what
        #: the limit's bookkeeping costs, without any job having to wait.
        self.rate_keys = rate_keys
        self.tally = Tally()
        sp = flavor.spinach
        self.engine: Any = sp.Engine(flavor.make_broker(url), namespace=namespace)
        tasks = sp.Tasks()
        tally = self.tally
        counter = redis.Redis.from_url(url)

        def noop(a: int, b: int) -> None:
            tally.hit()

        def incr(a: int, b: int) -> None:
            counter.incr("bench:counter")
            tally.hit()

        def latency(sent: float) -> None:
            tally.record_latency(sent)

        limit = {"rate_limit": "1000/s"} if rate_keys else {}
        tasks.task(name="noop", **limit)(noop)
        tasks.task(name="incr", **limit)(incr)
        tasks.task(name="latency")(latency)
        self.functions = {"noop": noop, "incr": incr}
        self.engine.attach_tasks(tasks)
        self.probe = Probe(url)

    #: Give every job a unique key of its own (this repo only): what deduplication costs.
    unique = False
    #: Send every job with this priority (this repo only; not 0: what priorities cost).
    priority = 0
    #: Every job keeps its result (this repo only): what storing results costs.
    results = False
    #: The processing phases' jobs are sent as workflow groups of this many members (this repo
    #: only; 0: plain jobs): what group membership costs.
    group = 0

    def options(self, n: int) -> dict[str, Any]:
        """The schedule_with options of job number `n`, {} when it has none of its own."""
        options: dict[str, Any] = {}
        if self.unique:
            options["unique_key"] = f"u{n}"
        if self.priority:
            options["priority"] = self.priority
        if self.rate_keys:
            options["rate_key"] = f"r{n}"
        if self.results:
            options["store_result"] = True
        return options

    def batch(self, jobs: int, task: str = "noop") -> Any:
        batch = self.flavor.spinach.Batch()
        if self.unique or self.priority or self.rate_keys or self.results:
            for n in range(jobs):
                batch.schedule_with(task, (n % 100, 7), **self.options(n))
            return batch
        for n in range(jobs):
            batch.schedule(task, n % 100, 7)
        return batch


def enqueue_single(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """schedule() one job at a time: what a web request pays per job."""
    for n in range(args.warmup):
        bench.engine.schedule("noop", n, 7)
    before = bench.probe.snapshot()
    if bench.unique or bench.priority or bench.rate_keys or bench.results:
        for n in range(args.jobs):
            bench.engine.schedule_with("noop", (n % 100, 7), **bench.options(n))
    else:
        for n in range(args.jobs):
            bench.engine.schedule("noop", n % 100, 7)
    after = bench.probe.snapshot()
    seconds = after.wall - before.wall
    return {"jobs": args.jobs, "seconds": seconds, "rate": args.jobs / seconds} | cost(
        before, after, args.jobs
    )


def enqueue_batch(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """One schedule_batch() of many jobs: what a fan-out pays per job."""
    bench.engine.schedule_batch(bench.batch(args.warmup))
    batch = bench.batch(args.jobs)
    before = bench.probe.snapshot()
    bench.engine.schedule_batch(batch)
    after = bench.probe.snapshot()
    seconds = after.wall - before.wall
    return {"jobs": args.jobs, "seconds": seconds, "rate": args.jobs / seconds} | cost(
        before, after, args.jobs
    )


def _async_engine(bench: Bench, args: argparse.Namespace) -> Any:
    make = bench.flavor.make_async_engine
    if make is None:
        raise SystemExit(f"spinach {bench.flavor.version} has no asyncio client")
    _count_async_sends()
    return make(bench.engine, args.redis_url)


def _aio_rate(
    bench: Bench,
    args: argparse.Namespace,
    warm_up: Callable[[Any], Awaitable[Any]],
    send: Callable[[Any], Awaitable[Any]],
) -> dict[str, Any]:
    """Time `send(async engine)` after `warm_up(async engine)`, in one asyncio.run()."""
    aspin = _async_engine(bench, args)

    async def timed() -> tuple[Snapshot, Snapshot]:
        await warm_up(aspin)
        before = bench.probe.snapshot()
        await send(aspin)
        after = bench.probe.snapshot()
        await aspin.close()
        return before, after

    before, after = asyncio.run(timed())
    seconds = after.wall - before.wall
    return {"jobs": args.jobs, "seconds": seconds, "rate": args.jobs / seconds} | cost(
        before, after, args.jobs
    )


def aio_enqueue_single(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """`await schedule()` one job at a time, on the asyncio client."""

    async def schedule(aspin: Any, jobs: int) -> None:
        for n in range(jobs):
            await aspin.schedule("noop", n % 100, 7)  # the arguments of the sync phase

    return _aio_rate(
        bench, args, lambda a: schedule(a, args.warmup), lambda a: schedule(a, args.jobs)
    )


def aio_enqueue_batch(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """One `await schedule_batch()` of many jobs, on the asyncio client."""
    warm_up, batch = bench.batch(args.warmup), bench.batch(args.jobs)  # built before timing
    return _aio_rate(
        bench, args, lambda a: a.schedule_batch(warm_up), lambda a: a.schedule_batch(batch)
    )


def prefill(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Enqueue the jobs of the processing phase, in another process than the worker's."""
    started = time.perf_counter()
    if bench.group:
        sp = bench.flavor.spinach
        for first in range(0, args.jobs, bench.group):
            members = range(first, min(args.jobs, first + bench.group))
            steps = [
                sp.Step(args.task, n % 100, 7).with_options(**bench.options(n)) for n in members
            ]
            bench.engine.schedule_workflow(sp.Group(*steps))
    else:
        bench.engine.schedule_batch(bench.batch(args.jobs, args.task))
    return {"jobs": args.jobs, "seconds": time.perf_counter() - started}


def process(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Drain pre-enqueued no-op jobs with one worker process, until the queue is empty."""
    rss_before = peak_rss_mib()
    before = bench.probe.snapshot()
    bench.engine.start_workers(
        number=args.threads,
        queue=QUEUE,
        block=True,
        stop_when_queue_empty=True,
        **({"prefetch": args.prefetch} if args.prefetch is not None else {}),
    )
    after = bench.probe.snapshot()
    tally = bench.tally
    to_last = tally.last_done - before.wall if tally.count else float("nan")
    spawned = args.spawned_at or float("nan")
    from_spawn = tally.last_done_wall - spawned if tally.count else float("nan")
    steady = tally.last_done_wall - tally.first_done_wall if tally.count > 1 else float("nan")
    return {
        "jobs": args.jobs,
        "task": args.task,
        "executions": tally.count,
        "executions_ok": tally.count == args.jobs,
        "seconds_to_last_job": to_last,
        "seconds_with_stop": after.wall - before.wall,
        "rate": args.jobs / to_last,
        "rate_with_stop": args.jobs / (after.wall - before.wall),
        "rate_from_spawn": args.jobs / from_spawn,
        "rate_steady": (args.jobs - 1) / steady,
        "spawn_to_first_job_s": tally.first_done_wall - spawned,
        "rss_before_mib": rss_before,
        "rss_mib": peak_rss_mib(),
        "ru_maxrss_mib": ru_maxrss_mib(),
    } | cost(before, after, args.jobs)


def latency(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Time from schedule() to the task starting, on an idle worker, one job at a time."""
    tally = bench.tally
    tally.expected = args.jobs
    bench.engine.start_workers(
        number=args.threads,
        queue=QUEUE,
        block=False,
        **({"prefetch": args.prefetch} if args.prefetch is not None else {}),
    )
    time.sleep(args.settle)  # let the worker go idle: the first jobs must wake it
    before = bench.probe.snapshot()
    for _ in _paced(args.jobs, args.interval_ms):
        bench.engine.schedule("latency", time.time())
    completed = tally.all_done.wait(args.wait)
    after = bench.probe.snapshot()
    stop_started = time.perf_counter()
    bench.engine.stop_workers()
    stop_seconds = time.perf_counter() - stop_started
    samples = sorted(x * 1000 for x in tally.latencies)
    p50, p90, p99 = _centiles(samples)
    return {
        "jobs": args.jobs,
        "received": len(samples),
        "completed": completed,
        "interval_ms": args.interval_ms,
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "max_ms": samples[-1] if samples else float("nan"),
        "mean_ms": statistics.fmean(samples) if samples else float("nan"),
        "stop_workers_seconds": stop_seconds,
    } | cost(before, after, args.jobs)


def floor_process(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """The job functions called by bare threads, no queue: what the processing phases aim at."""
    func = bench.functions[args.task]
    per_thread = args.jobs // args.threads
    start = threading.Barrier(args.threads + 1)

    def run() -> None:
        start.wait()
        for n in range(per_thread):
            func(n % 100, 7)

    threads = [threading.Thread(target=run) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    before = bench.probe.snapshot()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    after = bench.probe.snapshot()
    jobs = per_thread * args.threads
    # Redis CPU per job: what the job's own commands cost Redis (the INCR job's INCR).
    return {"jobs": jobs, "task": args.task, "seconds": seconds, "rate": jobs / seconds} | cost(
        before, after, jobs
    )


def _payload(bench: Bench) -> bytes:
    """A blob as large as one encoded job of the enqueue phases."""
    return b"x" * 160


def floor_enqueue_single(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """One RPUSH per job, one by one: the least a queue can do to accept a job."""
    client = redis.Redis.from_url(args.redis_url)
    payload = _payload(bench)
    began = time.perf_counter()
    for _ in range(args.jobs):
        client.rpush("floor:queue", payload)
    seconds = time.perf_counter() - began
    return {"jobs": args.jobs, "seconds": seconds, "rate": args.jobs / seconds}


def floor_enqueue_batch(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """One pipelined RPUSH per job: the least a queue can do to accept a batch."""
    client = redis.Redis.from_url(args.redis_url)
    payload = _payload(bench)
    began = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for _ in range(args.jobs):
        pipe.rpush("floor:queue", payload)
    pipe.execute()
    seconds = time.perf_counter() - began
    return {"jobs": args.jobs, "seconds": seconds, "rate": args.jobs / seconds}


def floor_round_trip(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """One RPUSH round trip from an idle client, spaced as the latency phase spaces its jobs.

    A pickup on an idle worker needs at least two such round trips (the enqueue, and the
    fetch that leases the job) and a wake-up between them; on a virtual machine whose idle
    CPUs sleep, each costs several times a round trip under load.
    """
    client = redis.Redis.from_url(args.redis_url)
    client.ping()
    samples = []
    for _ in _paced(args.jobs, args.interval_ms):
        began = time.perf_counter()
        client.rpush("floor:queue", b"x")
        samples.append((time.perf_counter() - began) * 1000)
    p50, _, p99 = _centiles(samples)
    return {"jobs": args.jobs, "p50_ms": p50, "p99_ms": p99}


def _paced(count: int, interval_ms: float) -> Iterator[int]:
    """0 .. count-1, each at its slot `interval_ms` after the previous one's (the latency
    phase and its floor send one request at a time, on an idle client)."""
    interval = interval_ms / 1000
    start = time.perf_counter()
    for i in range(count):
        pause = start + i * interval - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        yield i


def _centiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p90 and p99 of `samples` (sorted); nan when there are none."""
    if len(samples) < 2:
        only = samples[0] if samples else float("nan")
        return only, only, only
    centiles = statistics.quantiles(samples, n=100, method="inclusive")
    return centiles[49], centiles[89], centiles[98]


_RUNNERS: dict[str, Callable[[Bench, argparse.Namespace], dict[str, Any]]] = {
    "floor_process": floor_process,
    "floor_round_trip": floor_round_trip,
    "floor_enqueue_single": floor_enqueue_single,
    "floor_enqueue_batch": floor_enqueue_batch,
    "enqueue_single": enqueue_single,
    "enqueue_batch": enqueue_batch,
    "prefill": prefill,
    "process": process,
    "latency": latency,
    "aio_enqueue_single": aio_enqueue_single,
    "aio_enqueue_batch": aio_enqueue_batch,
}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run one benchmark phase; print JSON.")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--phase", required=True, choices=PHASES)
    parser.add_argument("--namespace", default=f"bench-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--prefetch", type=int, default=None, help="this repo only (None: auto)")
    parser.add_argument("--unique", action="store_true", help="this repo only: unique keys")
    parser.add_argument("--priority", type=int, default=0, help="this repo only: job priority")
    parser.add_argument("--rate-keys", action="store_true", help="this repo only: rate limits")
    parser.add_argument("--results", action="store_true", help="this repo only: store results")
    parser.add_argument("--group", type=int, default=0, help="this repo only: groups of N")
    parser.add_argument("--warmup", type=int, default=20, help="jobs sent before measuring")
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=0.5, help="idle seconds before sending")
    parser.add_argument("--wait", type=float, default=30.0, help="most seconds to wait for jobs")
    parser.add_argument("--task", choices=TASKS, default="noop", help="the processing phases' job")
    parser.add_argument(
        "--spawned-at", type=float, default=0.0, help="time.time() when run.py spawned this"
    )
    return parser.parse_args(argv)


def _hiredis_in_use() -> bool:
    """Whether redis-py parses and packs with hiredis here (it changes per-job client CPU)."""
    from redis.utils import HIREDIS_AVAILABLE

    return bool(HIREDIS_AVAILABLE)


def main(flavor: Flavor, argv: Sequence[str]) -> int:
    """Run the phase named on the command line and print its result as one JSON line."""
    args = parse_args(argv)
    bench = Bench(flavor, args.redis_url, args.namespace, args.rate_keys)
    bench.unique = args.unique
    bench.priority = args.priority
    bench.results = args.results
    bench.group = args.group
    try:
        result = _RUNNERS[args.phase](bench, args)
    finally:
        bench.probe.close()
    result |= {
        "phase": args.phase,
        "flavor": flavor.name,
        "spinach_version": flavor.version,
        "spinach_path": str(getattr(flavor.spinach, "__file__", "?")),
        "python": platform.python_version(),
        "redis_py": redis.__version__,
        "hiredis": _hiredis_in_use(),
        "namespace": args.namespace,
        "threads": args.threads,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0
