"""Datadog APM for Spinach workers: a ``spinach.task`` span around each job (as in 0.0.25).

    from spinach.contrib.datadog import register_datadog

    register_datadog()  # the global ddtrace tracer, every namespace

Hooks on the job signals, no monkeypatching. ddtrace is optional: it is imported only when
`register_datadog` is called without a tracer, never by ``import spinach``.

Each job gets a span ``spinach.task`` (span type ``worker``, resource the task's name), current
while the task runs, so whatever ddtrace traces inside the task nests under it. The job's
attributes become tags when it ends. A failed attempt marks the span as an error with its
exception; RetryException and AbortException are control flow and do not.
"""

import contextvars
import importlib
import sys
from typing import Any, Protocol, cast

from spinach import signals
from spinach.job import Job
from spinach.task import AbortException, RetryException

__all__ = ["register_datadog", "register_datadog_if_module_patched"]

#: The job attributes set as tags when a job ends: those of Spinach 0.0.25's Job.
TAGS = (
    "id",
    "status",
    "task_name",
    "queue",
    "at",
    "max_retries",
    "retries",
    "task_args",
    "task_kwargs",
)


class Span(Protocol):
    """What the integration uses of a ddtrace span."""

    def set_tag(self, key: str, value: Any = None) -> None: ...

    def set_exc_info(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None: ...

    def finish(self) -> None: ...


class Tracer(Protocol):
    """What the integration uses of a ddtrace tracer (``ddtrace.trace.tracer``)."""

    def trace(
        self,
        name: str,
        service: str | None = ...,
        resource: str | None = ...,
        span_type: str | None = ...,
    ) -> Span: ...


def register_datadog(
    tracer: Tracer | None = None, namespace: str | None = None, service: str = "spinach"
) -> None:
    """Trace every job with Datadog.

    `tracer`: a ddtrace tracer (default: ddtrace's global one). `namespace`: only the jobs of
    that Engine's namespace (default: every namespace). `service`: the Datadog service of the
    spans.
    """
    if tracer is None:
        tracer = _global_tracer()
    # One span per running job: the signals of a job are sent in its thread (or asyncio task).
    current: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
        "spinach_datadog_span", default=None
    )

    def job_started(sender: str, *, job: Job, **kwargs: Any) -> None:
        span = tracer.trace(
            "spinach.task", service=service, resource=job.task_name, span_type="worker"
        )
        current.set(span)

    def job_finished(sender: str, *, job: Job, **kwargs: Any) -> None:
        span = current.get()
        if span is None:
            return
        current.set(None)
        for attr in TAGS:
            value = getattr(job, attr)
            # Numbers stay numbers; the rest as 0.0.25's ddtrace wrote them, with str().
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            span.set_tag(attr, value if is_number else str(value))
        span.finish()

    def job_ended_badly(sender: str, *, job: Job, err: BaseException, **kwargs: Any) -> None:
        span = current.get()  # None for a job failed without running (a dead worker's)
        if span is not None and not isinstance(err, (RetryException, AbortException)):
            span.set_exc_info(type(err), err, err.__traceback__)

    receivers = (
        (signals.job_started, job_started),
        (signals.job_finished, job_finished),
        (signals.job_failed, job_ended_badly),
        (signals.job_schedule_retry, job_ended_badly),
    )
    for signal, receiver in receivers:
        if namespace is None:
            signal.connect(receiver, weak=False)
        else:
            signal.connect(receiver, sender=namespace, weak=False)


def register_datadog_if_module_patched(module: str, *args: Any, **kwargs: Any) -> bool:
    """Register the integration if ddtrace already traces `module` (such as ``"django"``).

    Returns whether it did. ddtrace is not imported if nothing imported it yet: then nothing
    can be patched.
    """
    if "ddtrace" not in sys.modules:
        return False
    patched = _patched_modules()
    if module not in patched:
        return False
    register_datadog(*args, **kwargs)
    return True


def _global_tracer() -> Tracer:
    for module in ("ddtrace.trace", "ddtrace"):  # ddtrace.trace since ddtrace 2.20
        try:
            return cast(Tracer, importlib.import_module(module).tracer)
        except (ImportError, AttributeError):
            continue
    raise ImportError(
        "The Datadog integration needs ddtrace: pip install ddtrace, or pass a tracer"
    )


def _patched_modules() -> set[str]:
    """The modules ddtrace patched, across the ddtrace versions that moved the function."""
    for module, name in (
        ("ddtrace._monkey", "_get_patched_modules"),  # ddtrace 2 and later
        ("ddtrace._monkey", "get_patched_modules"),
        ("ddtrace.monkey", "get_patched_modules"),  # what 0.0.25 imported (ddtrace 0.x)
    ):
        try:
            getter = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        return set(getter())
    return set()
