"""A tour of Spinach on the embedded broker: no Redis server needed.

Schedules jobs now, in a batch, later and failing ones that retry, cancels one, runs them on
worker threads until the queue is empty, then looks up what became of them.
"""

import logging
from datetime import timedelta

from spinach import Batch, Engine, MemoryBroker, Tasks, signals
from spinach.retry import ExponentialBackoff

logging.basicConfig(level=logging.ERROR, format="  log: %(levelname)s %(message)s")
# The failing job's traceback would be logged here; the tour shows its record at the end instead.
logging.getLogger("spinach.worker").setLevel(logging.CRITICAL)


def say(line: str) -> None:
    """Print a whole line in one write: jobs run on several threads at once."""
    print(line + "\n", end="", flush=True)


tasks = Tasks()
attempts: dict[str, int] = {}


@tasks.task(name="compute")
def compute(a: int, b: int) -> None:
    say(f"  compute({a}, {b}) = {a + b}")


@tasks.task(name="reminder")
def reminder(text: str) -> None:
    say(f"  reminder: {text}")


@tasks.task(
    name="flaky_call",
    max_retries=2,
    retry_policy=ExponentialBackoff(base=timedelta(milliseconds=200), cap=timedelta(seconds=1)),
)
def flaky_call(url: str) -> None:
    attempts[url] = attempts.get(url, 0) + 1
    if attempts[url] < 3:
        raise ConnectionError(f"{url} did not answer (attempt {attempts[url]})")
    say(f"  flaky_call({url!r}) succeeded on attempt {attempts[url]}")


@tasks.task(name="charge")
def charge(order: int) -> None:
    raise ValueError(f"card declined for order {order}")


@signals.job_schedule_retry.connect_via("demo")
def on_retry(namespace: str, job, err) -> None:  # type: ignore[no-untyped-def]
    say(f"  retrying {job.task_name} ({job.retries}/{job.max_retries}) after: {err}")


def main() -> None:
    spin = Engine(MemoryBroker(), namespace="demo")
    spin.attach_tasks(tasks)

    print("Scheduling: one job, a batch of three, a delayed one and a flaky one")
    spin.schedule(compute, 5, 3)
    batch = Batch()
    for i in range(3):
        batch.schedule("compute", i, i * 10)
    spin.schedule_batch(batch)
    spin.schedule_in(reminder, timedelta(milliseconds=500), "this ran 0.5 s after it was scheduled")
    flaky = spin.schedule(flaky_call, "https://api.example.test")
    declined = spin.schedule(charge, 42)  # at most once (max_retries=0): fails for good
    cancelled = spin.schedule(compute, 100, 100)
    print(f"Cancelling compute(100, 100) before it starts: {spin.cancel(cancelled).value}")

    print("Running them on 4 worker threads until the queue is empty:")
    spin.start_workers(number=4, block=True, stop_when_queue_empty=True)
    print("All jobs done. What Redis (here, the embedded broker) remembers of three of them:")
    for job in (flaky, declined, cancelled):
        info = spin.get_job(job)
        assert info is not None
        error = f", {info.error_type}: {info.error_message}" if info.error_type else ""
        say(f"  {info.task}: {info.status.name.lower()} after {info.attempts} attempt(s){error}")
    print(f"Failed-job store: {[job.task for job in spin.failed_jobs()]} (spin.retry_failed(id))")


if __name__ == "__main__":
    main()
