"""How fast each dashboard page answers over a big queue, and what one page load costs Redis.

Run as ``uv run --locked --all-packages python tools/bench/dashboard.py`` (or
``just bench-dashboard``). A benchmark, not a test: it prints figures and asserts nothing.

On a throwaway redis-server (a free loopback port, never a shared Redis), namespace ``bench``
gets `--finished` jobs that succeeded, `--failed` jobs that failed for good (with their
tracebacks), then `--ready` ready jobs and `--delayed` delayed ones in queue ``big``, plus one
live worker on another queue (so the Workers page has a row, the list of every queue merges
two queues, and ``big`` keeps its jobs). The pages cover each state's tab of the big queue,
deep pages, task filters (a filter that matches nothing looks at its whole window), the list
of every queue at once, job pages and the Overview with its throughput chart.
The dashboard is served by waitress on loopback, as `spinach dashboard` serves it, and each
page is requested `--repeat` times over HTTP after two warm-up loads: the table shows the
median, the 10th and 90th percentiles and the slowest response.

What one load costs Redis is counted twice: on the dashboard's own connection (commands and
round trips it sends: exact), and from Redis's INFO commandstats and INFO cpu (every command,
those run inside scripts included, and Redis CPU time), taken as the smallest of five single
loads so that the idle worker's heartbeat does not count. With the live refresh of an open
page (every 5 s by default), that is the load an open dashboard puts on Redis.
"""

import argparse
import json
import logging
import os
import statistics
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tools/, for redis_server.py

import redis
from redis.connection import Connection
from redis_server import RedisServer
from report import render

from spinach import Batch, Engine, RedisBroker, Tasks
from spinach_dashboard import create_app
from spinach_dashboard.server import served_in_thread

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "big"
REFRESH_SECONDS = 5.0


class CountingConnection(Connection):
    """The dashboard's connections: count the commands and round trips they send."""

    commands = 0
    round_trips = 0

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        CountingConnection.commands += 1
        super().send_command(*args, **kwargs)  # type: ignore[no-untyped-call]

    def pack_commands(self, commands: Any) -> Any:
        commands = list(commands)
        CountingConnection.commands += len(commands)
        return super().pack_commands(commands)  # type: ignore[no-untyped-call]

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.round_trips += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


tasks = Tasks()


@tasks.task(name="bench:fail", queue=QUEUE, max_retries=0)
def fail(n: int, text: str) -> None:
    raise ValueError(f"failed on purpose: {n}")


@tasks.task(name="bench:work", queue=QUEUE)
def work(n: int, text: str) -> None:
    pass


@tasks.task(name="bench:idle", queue="elsewhere")
def idle() -> None:
    pass


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--ready", type=int, default=100_000, help="ready jobs in the queue (%(default)s)")
    add("--failed", type=int, default=10_000, help="failed jobs in the queue (%(default)s)")
    add("--delayed", type=int, default=1_000, help="delayed jobs in the queue (%(default)s)")
    add("--finished", type=int, default=1_000, help="succeeded jobs on record (%(default)s)")
    add("--repeat", type=int, default=30, help="requests per page (%(default)s)")
    add("--chunk", type=int, default=10_000, help="jobs per schedule_batch() (%(default)s)")
    add("--output", type=Path, default=ROOT / ".bench" / "dashboard.json", help="raw results")
    return parser.parse_args()


def fill(engine: Engine, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    _batches(engine, "bench:work", args.finished, args.chunk)
    _batches(engine, "bench:fail", args.failed, args.chunk)
    logging.getLogger("spinach").setLevel(logging.CRITICAL)  # 10,000 tracebacks say nothing
    engine.start_workers(number=8, queue=QUEUE, block=True, stop_when_queue_empty=True)
    _batches(engine, "bench:work", args.ready, args.chunk)
    _batches(engine, "bench:work", args.delayed, args.chunk, delay=timedelta(hours=1))
    print(f"filled: {args.ready:,} ready, {args.delayed:,} delayed, {args.failed:,} failed and "
          f"{args.finished:,} finished jobs in queue {QUEUE!r} "
          f"in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip


def _batches(
    engine: Engine, task: str, count: int, chunk: int, delay: timedelta | None = None
) -> None:
    for start in range(0, count, chunk):
        batch = Batch()
        for n in range(start, min(count, start + chunk)):
            if delay is None:
                batch.schedule(task, n, "x" * 40)
            else:
                batch.schedule_at(task, datetime.now(UTC) + delay, n, "x" * 40)
        engine.schedule_batch(batch)


def pages(engine: Engine, args: argparse.Namespace) -> dict[str, str]:
    failed = engine.jobs("failed", QUEUE, limit=1).jobs[0]
    deep_failed = args.failed // 2
    deep = engine.jobs("failed", QUEUE, offset=deep_failed, limit=1).jobs[0]
    deep_ready = args.ready // 2
    ready = engine.jobs("ready", QUEUE, offset=deep_ready, limit=1).jobs[0]
    of_queue = f"&queue={QUEUE}"
    return {
        "overview (with the chart)": "/",
        "workers": "/workers",
        "ready": f"/jobs?state=ready{of_queue}",
        f"ready at offset {deep_ready:,}": f"/jobs?state=ready{of_queue}&offset={deep_ready}",
        "ready, task filter (no match)": f"/jobs?state=ready{of_queue}&task=bench:nothing",
        "ready, task filter (matches)": f"/jobs?state=ready{of_queue}&task=bench:work",
        "delayed": f"/jobs?state=delayed{of_queue}",
        "running": f"/jobs?state=running{of_queue}",
        "failed": f"/jobs?state=failed{of_queue}",
        f"failed at offset {deep_failed:,}": f"/jobs?state=failed{of_queue}&offset={deep_failed}",
        "failed, task filter (no match)": f"/jobs?state=failed{of_queue}&task=bench:nothing",
        "finished": f"/jobs?state=finished{of_queue}",
        "every queue: ready": "/jobs?state=ready",
        "every queue: failed": "/jobs?state=failed",
        "every queue: failed at offset 900": "/jobs?state=failed&offset=900",
        "every queue: ready, task filter": "/jobs?state=ready&task=bench:nothing",
        "job (failed, traceback)": f"/jobs/{failed.id}",
        "job (deep failed)": f"/jobs/{deep.id}",
        "job (deep ready)": f"/jobs/{ready.id}",
        "periodic tasks": "/periodic",
        "concurrency limits": "/limits",
    }


def fetch(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return (time.perf_counter() - started) * 1000


def measure(base: str, path: str, repeat: int, probe: redis.Redis) -> dict[str, Any]:
    for _ in range(2):
        fetch(base + path)
    times = sorted(fetch(base + path) for _ in range(repeat))
    deciles = statistics.quantiles(times, n=10)
    sent = CountingConnection.commands, CountingConnection.round_trips
    fetch(base + path)
    commands = CountingConnection.commands - sent[0]
    round_trips = CountingConnection.round_trips - sent[1]
    server_commands, cpu = [], []
    for _ in range(5):
        before_calls, before_cpu = _server(probe)
        fetch(base + path)
        after_calls, after_cpu = _server(probe)
        server_commands.append(after_calls - before_calls)
        cpu.append((after_cpu - before_cpu) * 1e6)
    return {
        "median_ms": statistics.median(times),
        "p10_ms": deciles[0],
        "p90_ms": deciles[-1],
        "max_ms": times[-1],
        "client_commands": commands,
        "round_trips": round_trips,
        "redis_commands": min(server_commands),
        "redis_cpu_us": min(cpu),
    }


def _server(probe: redis.Redis) -> tuple[int, float]:
    stats = probe.info("commandstats")
    calls = sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info",))
    info = probe.info("cpu")
    return calls, float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def main() -> int:
    args = parse_args()
    server = RedisServer()
    server.start(attempts=3)
    try:
        return run(server, args)
    finally:
        server.cleanup()


def run(server: RedisServer, args: argparse.Namespace) -> int:
    producer = Engine(RedisBroker.from_url(server.url), namespace="bench")
    producer.attach_tasks(tasks)
    fill(producer, args)
    producer.start_workers(number=2, queue="elsewhere", block=False)
    watched = Engine(
        RedisBroker.from_url(server.url, connection_class=CountingConnection), namespace="bench"
    )
    probe = server.client()
    results: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()
    try:
        with served_in_thread(create_app(watched), threads=4) as http:
            base = f"http://127.0.0.1:{http.effective_port}"
            for name, path in pages(producer, args).items():
                results[name] = measure(base, path, args.repeat, probe)
    finally:
        producer.stop_workers()
    header = ["page", "median ms", "p10 ms", "p90 ms", "max ms", "commands sent",
              "round trips", "Redis commands", "Redis CPU µs"]  # fmt: skip
    rows = [header] + [
        [
            name,
            f"{r['median_ms']:.1f}",
            f"{r['p10_ms']:.1f}",
            f"{r['p90_ms']:.1f}",
            f"{r['max_ms']:.1f}",
            str(r["client_commands"]),
            str(r["round_trips"]),
            str(r["redis_commands"]),
            f"{r['redis_cpu_us']:.0f}",
        ]
        for name, r in results.items()
    ]
    print(f"{args.repeat} requests per page over HTTP (waitress, loopback), "
          f"{args.ready:,} ready and {args.failed:,} failed jobs in queue {QUEUE!r}:")  # fmt: skip
    print(f"load average before: {load_before}, after: {os.getloadavg()}")
    print(render(rows))
    live = {name: r for name, r in results.items() if "task filter" not in name}
    most_commands = max(r["redis_commands"] for r in live.values())
    most_cpu = max(r["redis_cpu_us"] for r in live.values())
    print(f"An open page refreshing every {REFRESH_SECONDS:g} s costs Redis at most "
          f"{most_commands / REFRESH_SECONDS:.1f} commands/s and "
          f"{most_cpu / REFRESH_SECONDS:.0f} µs of CPU per second (pages filtered by task do "
          "not refresh by themselves).")  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"args": vars(args) | {"output": str(args.output)},
                                       "pages": results}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
