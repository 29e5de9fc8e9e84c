"""The supervisor of ``spinach-worker --processes N``: N worker processes, kept running.

- Children are spawned (see child.py): nothing of the supervisor is inherited.
- A child that dies is restarted after a delay with jitter; children that keep dying right
  after start make the supervisor stop and exit 1 (see restarts.py).
- SIGTERM or SIGINT: one SIGTERM to each child, each does the normal graceful stop; children
  still running after the shutdown timeout and a grace period are killed. A second signal
  forwards a second SIGTERM, which makes the children exit at once, and the supervisor exits 1.
- One health server for all: /livez and /readyz ask every child on its pipe, /metrics (if
  enabled) adds up the children's metrics. Children bind no port.
"""

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from spinach_worker.child import ChildOptions, child_main
from spinach_worker.health import HealthServer
from spinach_worker.restarts import RestartPolicy, Restarts

logger = logging.getLogger("spinach.worker")

#: How long a child may take to answer a health question before it counts as failing.
HEALTH_ANSWER_SECONDS = 5.0
#: Added to the shutdown timeout before children still running are killed: their last outcomes
#: and the hand-back of unstarted jobs take a moment after the running jobs end.
STOP_GRACE_SECONDS = 15.0


@dataclass
class _Slot:
    """One of the N places a worker process runs in."""

    index: int
    process: BaseProcess | None = None
    conn: Connection | None = None
    restart_at: float | None = None
    finished: bool = False  # exited 0 on its own (--stop-when-queue-empty): not restarted
    #: Guards process and conn (the main loop replaces them, probes read them).
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: One question at a time on the pipe; held while waiting for the answer.
    probe_lock: threading.Lock = field(default_factory=threading.Lock)
    seq: int = 0


class Supervisor:
    """Run `processes` worker processes of `options` until stopped; `run()` returns the exit code.

    `health_port`: serve /livez, /readyz (and /metrics when `metrics_page` is given) for all
    children on `health_host`.
    """

    def __init__(
        self,
        options: ChildOptions,
        processes: int,
        policy: RestartPolicy | None = None,
        health_port: int | None = None,
        health_host: str = "0.0.0.0",
        metrics_page: Any = None,
    ) -> None:
        if processes < 1:
            raise ValueError("--processes must be at least 1")
        self.options = options
        self.policy = policy or RestartPolicy()
        self._slots = [_Slot(i) for i in range(processes)]
        self._restarts = Restarts(self.policy, processes)
        self._context = multiprocessing.get_context("spawn")
        self._signals = 0
        self._gave_up = False
        self._health = (
            None
            if health_port is None
            else HealthServer(
                health_host, health_port, self._liveness, self._readiness, metrics_page
            )
        )

    @property
    def health_port(self) -> int | None:
        return None if self._health is None else self._health.port

    def run(self) -> int:
        """Start the children, keep them running, stop them; 0 after a clean stop, else 1."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        previous = self._install_signal_handlers(wake_w)
        try:
            if self._health is not None:
                self._health.start()
            for slot in self._slots:
                self._spawn(slot)
            logger.info(
                "Supervising %d worker processes of %d threads on queue %s",
                len(self._slots), self.options.threads, _queues(self.options.queue),
            )  # fmt: skip
            return self._loop(wake_r)
        finally:
            for slot in self._slots:  # never leave a child behind, whatever happened above
                if slot.process is not None and slot.process.is_alive():
                    slot.process.kill()
                    slot.process.join(5)
            if self._health is not None:
                self._health.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if previous:
                signal.set_wakeup_fd(-1)
            wake_r.close()
            wake_w.close()

    def _loop(self, wake: socket.socket) -> int:
        forwarded = 0
        deadline: float | None = None
        failed_stop = False
        while True:
            stopping = self._signals > 0 or self._gave_up
            if stopping and forwarded < max(1, self._signals):
                forwarded += 1
                deadline = self._forward_stop(forwarded)
            running = [s for s in self._slots if s.process is not None]
            if not running and (stopping or all(s.finished for s in self._slots)):
                break
            if stopping and deadline is not None and time.monotonic() > deadline:
                for slot in running:
                    logger.error(
                        "Worker process %d (pid %s) is still running past the shutdown "
                        "timeout: killing it", slot.index, slot.process.pid if slot.process else "?"
                    )  # fmt: skip
                    if slot.process is not None:
                        slot.process.kill()
                failed_stop = True
                deadline = None
            timeout = 1.0
            pending = [s.restart_at for s in self._slots if s.restart_at is not None]
            if pending and not stopping:
                timeout = max(0.0, min(timeout, min(pending) - time.monotonic()))
            sentinels: list[Any] = [s.process.sentinel for s in running if s.process is not None]
            wait([*sentinels, wake], timeout)
            with contextlib.suppress(BlockingIOError):
                wake.recv(512)
            for slot in running:
                if slot.process is not None and not slot.process.is_alive():
                    failed_stop |= self._reap(slot, stopping) and stopping
            if self._restarts.crash_looping and not self._gave_up:
                self._gave_up = True
                logger.error(
                    "Worker processes keep dying right after they start (%d times in a row): "
                    "stopping. Fix the cause shown above; a broken deploy must not look healthy",
                    self.policy.give_up_after,
                )
            if not (self._signals or self._gave_up):
                now = time.monotonic()
                for slot in self._slots:
                    if slot.restart_at is not None and slot.restart_at <= now:
                        slot.restart_at = None
                        self._spawn(slot)
        if self._signals > 1 or self._gave_up or failed_stop:
            return 1
        logger.info("Every worker process stopped")
        return 0

    def _spawn(self, slot: _Slot) -> None:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=child_main,
            args=(self.options, slot.index, child_end),
            name=f"worker-{slot.index}",
        )
        process.start()
        child_end.close()
        with slot.lock:
            slot.process, slot.conn = process, parent_end
        self._restarts.started(slot.index)
        logger.info("Started worker process %d (pid %s)", slot.index, process.pid)

    def _reap(self, slot: _Slot, stopping: bool) -> bool:
        """Note a child's exit and plan its restart; return whether it exited in error."""
        process = slot.process
        assert process is not None
        process.join()
        code = process.exitcode
        with slot.lock:
            if slot.conn is not None:
                slot.conn.close()
            slot.process, slot.conn = None, None
        how = _describe_exit(code)
        if stopping:
            logger.info("Worker process %d (pid %s) %s", slot.index, process.pid, how)
            return code != 0
        if code == 0:
            slot.finished = True
            logger.info("Worker process %d (pid %s) finished", slot.index, process.pid)
            return False
        lived = self._restarts.lived(slot.index)
        delay = self._restarts.died(slot.index)
        slot.restart_at = time.monotonic() + delay
        logger.error(
            "Worker process %d (pid %s) %s after %.1fs: restarting it in %.1fs (restart %d)",
            slot.index, process.pid, how, lived, delay, self._restarts.total[slot.index],
        )  # fmt: skip
        return True

    def _forward_stop(self, nth: int) -> float:
        """Send SIGTERM to every child; return when the stragglers get killed."""
        for slot in self._slots:
            slot.restart_at = None
            if slot.process is not None and slot.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.process.pid, signal.SIGTERM)
        timeout = self.options.shutdown_timeout
        if nth > 1:
            logger.warning("Second stop signal: the worker processes exit now")
            return time.monotonic() + STOP_GRACE_SECONDS
        if timeout is None:
            return float("inf")
        return time.monotonic() + timeout + STOP_GRACE_SECONDS

    def _install_signal_handlers(self, wake: socket.socket) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            self._signals += 1
            if self._signals == 1:
                logger.info(
                    "Received %s: stopping the worker processes gracefully",
                    signal.Signals(signum).name,
                )

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
        signal.set_wakeup_fd(wake.fileno(), warn_on_full_buffer=False)
        return previous

    def stop(self) -> None:
        """Ask for a graceful stop, as SIGTERM does (from another thread, e.g. in tests)."""
        self._signals += 1

    # Health: the supervisor's answer is the children's, asked when a probe comes in.

    def _ask(self, check: str) -> tuple[bool, dict[str, Any]]:
        children: list[dict[str, Any]] = []
        ok = True
        for slot in self._slots:
            answer = self._ask_child(slot, check)
            children.append({"slot": slot.index, **answer})
            ok &= bool(answer.get("ok"))
        return ok, {"processes": children}

    def _ask_child(self, slot: _Slot, check: str) -> dict[str, Any]:
        with slot.lock:
            process, conn = slot.process, slot.conn
            restarts = self._restarts.total[slot.index]
            if process is None or conn is None:
                state = "finished" if slot.finished else "restarting"
                # A child being restarted is the supervisor's business, not a reason for an
                # orchestrator to kill every process; it is not ready though.
                return {"ok": check == "livez" or slot.finished, "state": state,
                        "restarts": restarts}  # fmt: skip
        # Not under `lock`: a slow child must not hold up the main loop's reaping and restarts.
        # If the child dies meanwhile, the loop closes the pipe and the question fails here.
        with slot.probe_lock:
            slot.seq += 1
            seq = slot.seq
            try:
                conn.send((seq, check))
                deadline = time.monotonic() + HEALTH_ANSWER_SECONDS
                while conn.poll(max(0.0, deadline - time.monotonic())):
                    got, ok, details = conn.recv()
                    if got == seq:
                        return {"ok": ok, "pid": process.pid, "restarts": restarts, **details}
            except (EOFError, OSError) as e:
                return {"ok": False, "pid": process.pid, "error": str(e), "restarts": restarts}
        return {"ok": False, "pid": process.pid, "restarts": restarts,
                "error": f"no answer within {HEALTH_ANSWER_SECONDS:g}s"}  # fmt: skip

    def _liveness(self) -> tuple[bool, dict[str, Any]]:
        ok, details = self._ask("livez")
        return ok and not self._gave_up, details

    def _readiness(self) -> tuple[bool, dict[str, Any]]:
        ok, details = self._ask("readyz")
        stopping = bool(self._signals) or self._gave_up
        return ok and not stopping, {"stopping": stopping, **details}


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "vanished"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _queues(queue: str | tuple[str, ...]) -> str:
    return queue if isinstance(queue, str) else ", ".join(queue)
