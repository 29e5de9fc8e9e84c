"""Graceful stop: no new fetch, unstarted jobs handed back, running jobs finished, nothing lost."""

import threading
import time

from helpers import Ledger, wait_for

import spinach_worker
from spinach import Engine, Tasks
from spinach_worker import ThreadWorkers


class GatedThreadWorkers(ThreadWorkers):
    """ThreadWorkers whose threads start picking jobs only once the gate opens.

    It holds fetched jobs unstarted, which is the window a real stop can hit.
    """

    gate = threading.Event()

    def _worker(self, name: str) -> None:
        self.gate.wait(10)
        super()._worker(name)


def test_stopping_hands_back_unstarted_jobs_and_finishes_running_ones(
    spin: Engine, ledger: Ledger
) -> None:
    release = threading.Event()
    tasks = Tasks()

    @tasks.task(name="slow")
    def slow(i: int) -> None:
        ledger.add(("start", i))
        release.wait(10)
        ledger.add(("end", i))

    spin.attach_tasks(tasks)
    for i in range(10):
        spin.schedule(slow, i)

    # Given two jobs running and the rest still queued
    spin.start_workers(number=2, block=False)
    ledger.wait_for_count(2)
    stats = spin.broker.queue_stats("spinach")
    assert (stats.ready, stats.running) == (8, 2)

    # When the workers are stopped while those two still run
    stopper = threading.Thread(target=spin.stop_workers)
    stopper.start()
    wait_for(lambda: spin._runtime is not None and spin._runtime._stop_requested.is_set())
    release.set()
    stopper.join(10)

    # Then both running jobs finished and the other eight wait in the queue, untouched
    assert sorted(e for e in ledger.entries if e[0] == "end") == sorted(
        ("end", i) for s, i in ledger.entries if s == "start"
    )
    stats = spin.broker.queue_stats("spinach")
    assert (stats.ready, stats.running) == (8, 0)

    # And a new worker runs each of them exactly once
    spin.start_workers(number=4, block=True, stop_when_queue_empty=True)
    starts = [i for s, i in ledger.entries if s == "start"]
    assert sorted(starts) == list(range(10))


def test_jobs_fetched_but_not_started_go_back_to_the_head_of_the_queue_in_order(
    spin: Engine, ledger: Ledger
) -> None:
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="item")
    spin.attach_tasks(tasks)
    for i in range(6):
        spin.schedule("item", i)

    GatedThreadWorkers.gate.clear()
    spin.start_workers(number=4, block=False, workers_class=GatedThreadWorkers)
    wait_for(lambda: spin.broker.queue_stats("spinach").running == 4, message="4 fetched jobs")
    stopper = threading.Thread(target=spin.stop_workers)
    stopper.start()
    wait_for(lambda: spin.broker.queue_stats("spinach").running == 0, message="jobs handed back")
    GatedThreadWorkers.gate.set()
    stopper.join(10)

    assert ledger.entries == []
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.entries == list(range(6))


def test_workers_can_be_started_again_after_a_stop(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="item")
    spin.attach_tasks(tasks)
    for round_ in range(3):
        spin.schedule("item", round_)
        spin.start_workers(number=2, block=False)
        ledger.wait_for_count(round_ + 1)
        spin.stop_workers()
    assert ledger.entries == [0, 1, 2]
    assert not [t for t in threading.enumerate() if t.name.startswith(spin.namespace)]


def test_the_last_successful_fetch_and_ack_are_observable(spin: Engine, ledger: Ledger) -> None:
    tasks = Tasks()
    tasks.add(lambda: ledger.add("ran"), name="job")
    spin.attach_tasks(tasks)
    spin.start_workers(number=1, block=False)
    runtime = spin._runtime
    assert runtime is not None
    sent = time.monotonic()
    spin.schedule("job")
    ledger.wait_for_count(1)
    wait_for(lambda: runtime.last_ack is not None, message="the ack")
    # The fetch that took the job came after it was sent; later fetches may follow the ack.
    assert runtime.last_fetch is not None and sent <= runtime.last_fetch
    assert runtime.last_ack is not None and sent <= runtime.last_ack


def test_workers_that_stopped_on_their_own_can_be_started_again(
    spin: Engine, ledger: Ledger
) -> None:
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="item")
    spin.attach_tasks(tasks)
    spin.schedule("item", 1)
    spin.start_workers(number=1, block=False, stop_when_queue_empty=True)
    ledger.wait_for_count(1)
    wait_for(lambda: spin._runtime is not None and spin._runtime.stopped, message="the auto-stop")
    spin.schedule("item", 2)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.entries == [1, 2]


def test_live_workers_are_registered_while_they_run(spin: Engine, ledger: Ledger) -> None:
    import os

    spin.start_workers(number=3, queue="registry", block=False)
    wait_for(lambda: spin.broker.live_workers("registry"), message="the registration")
    [worker] = spin.broker.live_workers("registry")
    assert (worker.pid, worker.threads, worker.queue) == (os.getpid(), 3, "registry")
    assert worker.version == spinach_worker.__version__
    spin.stop_workers()
    assert spin.broker.live_workers("registry") == []


def test_the_registry_tells_what_each_thread_runs(spin: Engine, ledger: Ledger) -> None:
    release = threading.Event()
    tasks = Tasks()
    tasks.add(lambda i: (ledger.add(i), release.wait(10)), name="hold", queue="registry")
    spin.attach_tasks(tasks)
    job = spin.schedule("hold", 1)
    spin.start_workers(number=2, queue="registry", block=False, lease_seconds=0.6)
    ledger.wait_for_count(1)
    try:
        # The registry is renewed every third of the lease: the running job shows up there.
        wait_for(
            lambda: any(w.running for w in spin.status("registry").workers),
            message="the running job in the registry",
        )
        [worker] = spin.status("registry").workers
        [running] = worker.running
        assert (running.job_id, running.task) == (job.job_id, "hold")
        assert running.thread.endswith(("-worker-1", "-worker-2")) and running.started_at
    finally:
        release.set()


def test_health_endpoints_report_liveness_and_readiness(spin: Engine) -> None:
    import json
    import urllib.error
    import urllib.request

    spin.start_workers(number=1, block=False, health_port=0, health_host="127.0.0.1")
    runtime = spin._runtime
    assert runtime is not None and runtime.health_port

    def get(path: str) -> tuple[int, dict[str, object]]:
        url = f"http://127.0.0.1:{runtime.health_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    wait_for(lambda: runtime.last_fetch is not None, message="the first fetch")
    status, live = get("/livez")
    assert status == 200 and live["ok"] is True
    status, ready = get("/readyz")
    assert status == 200 and ready["redis"] == "ok" and ready["stopping"] is False
    runtime._stop_requested.set()  # what a first SIGTERM does: readiness goes, liveness stays
    assert get("/readyz")[0] == 503 and get("/livez")[0] == 200
    spin.stop_workers()
