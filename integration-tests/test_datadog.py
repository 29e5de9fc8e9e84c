"""The Datadog integration with ddtrace's real tracer, as 0.0.25's users registered it.

Each test runs in a child process: ddtrace patches, starts threads and keeps a global tracer,
none of which may leak into the other tests. Finished spans are caught by a TraceFilter (the
ddtrace API for dropping or rewriting traces), so nothing is sent to an agent.
"""

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

pytest.importorskip("ddtrace")

PRELUDE = """
import json
from datetime import timedelta

from ddtrace.trace import TraceFilter, tracer

from spinach import Engine, MemoryBroker, RetryException, AbortException
from spinach.retry import ExponentialBackoff

finished = []


class Catch(TraceFilter):
    def process_trace(self, trace):
        finished.extend(trace)
        return None  # never exported


tracer.configure(trace_processors=[Catch()])
FAST = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=20))


def report():
    tracer.flush()
    print(json.dumps([
        {
            "name": s.name, "service": s.service, "resource": s.resource,
            "span_type": s.span_type, "error": s.error, "span_id": s.span_id,
            "parent_id": s.parent_id, "error_type": s.get_tag("error.type"),
            "task_name": s.get_tag("task_name"), "status": s.get_tag("status"),
            "queue": s.get_tag("queue"), "id": s.get_tag("id"),
            "task_args": s.get_tag("task_args"),
            "retries": s.get_metric("retries") if s.get_tag("retries") is None
            else s.get_tag("retries"),
        }
        for s in finished
    ]))
"""


def run(body: str) -> list[dict[str, Any]]:
    """Run PRELUDE + `body` in a child process; return the spans it reported."""
    env = {
        **os.environ,
        "DD_TRACE_AGENT_URL": "http://127.0.0.1:9",  # loopback, discard: nothing listens
        "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
        "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        "DD_TRACE_STARTUP_LOGS": "false",
    }
    code = PRELUDE + textwrap.dedent(body)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    spans: list[dict[str, Any]] = json.loads(result.stdout.strip().splitlines()[-1])
    return spans


def test_each_job_gets_a_spinach_task_span_with_its_tags_and_its_errors() -> None:
    spans = run(
        """
        spin = Engine(MemoryBroker(), namespace="shop")
        state = {"flaky": 0}

        @spin.task(name="ok")
        def ok(n):
            with tracer.trace("inside"):  # the task's own tracing nests under the job's span
                pass

        @spin.task(name="broken")
        def broken(n):
            raise ValueError("broken")

        @spin.task(name="flaky", max_retries=1, retry_policy=FAST)
        def flaky(n):
            state["flaky"] += 1
            if state["flaky"] == 1:
                raise ConnectionError("away")

        @spin.task(name="later", max_retries=1)
        def later(n):
            if n == 1:
                raise RetryException("not yet")

        @spin.task(name="aborted", max_retries=3)
        def aborted(n):
            raise AbortException("give up")

        from spinach.contrib.datadog import register_datadog
        register_datadog(namespace="shop")  # the global tracer, as 0.0.25 users called it
        for name in ("ok", "broken", "flaky", "aborted"):
            spin.schedule(name, 7)
        spin.schedule("later", 2)
        spin.start_workers(number=1, stop_when_queue_empty=True)
        report()
        """
    )
    jobs = [s for s in spans if s["name"] == "spinach.task"]
    by_task: dict[str, list[dict[str, Any]]] = {}
    for span in jobs:
        by_task.setdefault(span["resource"], []).append(span)
    assert {task: len(runs) for task, runs in by_task.items()} == {
        "ok": 1, "broken": 1, "flaky": 2, "later": 1, "aborted": 1,
    }  # fmt: skip
    assert all((s["service"], s["span_type"]) == ("spinach", "worker") for s in jobs)
    assert all(s["task_name"] == s["resource"] and s["queue"] == "spinach" for s in jobs)

    [ok] = by_task["ok"]
    assert (ok["error"], ok["status"], ok["task_args"]) == (0, "JobStatus.SUCCEEDED", "(7,)")
    [inside] = [s for s in spans if s["name"] == "inside"]
    assert inside["parent_id"] == ok["span_id"]

    [broken] = by_task["broken"]
    assert (broken["error"], broken["error_type"]) == (1, "builtins.ValueError")
    assert broken["status"] == "JobStatus.FAILED"

    first, second = sorted(by_task["flaky"], key=lambda s: float(s["retries"]))
    assert (first["error"], first["error_type"]) == (1, "builtins.ConnectionError")
    assert (second["error"], second["status"]) == (0, "JobStatus.SUCCEEDED")
    assert first["id"] == second["id"]

    # RetryException and AbortException are control flow, not errors.
    assert [s["error"] for s in by_task["later"] + by_task["aborted"]] == [0, 0]
    assert by_task["aborted"][0]["status"] == "JobStatus.FAILED"


def test_a_namespace_and_a_tracer_given_limit_the_spans_to_that_engine_and_tracer() -> None:
    spans = run(
        """
        from ddtrace.trace import Tracer
        from spinach.contrib.datadog import register_datadog

        mine, other = Engine(MemoryBroker(), namespace="mine"), Engine(MemoryBroker(), "other")
        for engine in (mine, other):
            engine.task(lambda: None, name="noop")
            engine.schedule("noop")
        register_datadog(tracer=tracer, namespace="mine", service="billing")
        register_datadog(tracer=Tracer(), namespace="other")  # its spans go elsewhere
        mine.start_workers(number=1, stop_when_queue_empty=True)
        other.start_workers(number=1, stop_when_queue_empty=True)
        report()
        """
    )
    assert [(s["name"], s["service"], s["resource"]) for s in spans] == [
        ("spinach.task", "billing", "noop")
    ]


def test_register_datadog_if_module_patched_registers_only_for_a_patched_module() -> None:
    spans = run(
        """
        import ddtrace
        from spinach.contrib.datadog import register_datadog_if_module_patched

        ddtrace.patch(logging=True)
        spin = Engine(MemoryBroker(), namespace="logs")
        spin.task(lambda: None, name="noop")
        spin.schedule("noop")
        assert register_datadog_if_module_patched("flask", namespace="logs") is False
        assert register_datadog_if_module_patched("logging", namespace="logs") is True
        spin.start_workers(number=1, stop_when_queue_empty=True)
        report()
        """
    )
    assert [(s["name"], s["resource"]) for s in spans] == [("spinach.task", "noop")]


def test_the_integration_never_imports_ddtrace_unless_asked_to() -> None:
    code = """
import sys
import spinach
from spinach.contrib.datadog import register_datadog_if_module_patched

assert register_datadog_if_module_patched("django") is False  # nothing imported ddtrace
print(sorted(m for m in sys.modules if m.split(".")[0] == "ddtrace"))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
