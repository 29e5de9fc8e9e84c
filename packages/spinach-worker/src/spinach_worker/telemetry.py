"""OpenTelemetry for the consumer side: a span around each job, and worker metrics.

The span continues the trace of the producer (its context travels in the job envelope) and
links to it, so a trace runs from the web request into the job. Only the OpenTelemetry API is
used; without an SDK nothing is built.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from spinach.brokers.base import Outcome
from spinach.job import Job
from spinach.task import AbortException, RetryException
from spinach.telemetry import SYSTEM, is_metering, is_tracing

_tracer = trace.get_tracer("spinach.worker")
_meter = metrics.get_meter("spinach.worker")
_processed = _meter.create_counter(
    "spinach.jobs.processed", unit="{job}", description="Jobs run, by outcome"
)
_duration = _meter.create_histogram(
    "spinach.job.duration", unit="s", description="How long jobs ran"
)

_OUTCOMES = {"s": "succeeded", "f": "failed", "r": "retried", "R": "retried"}


def observed() -> bool:
    """Whether an OpenTelemetry SDK listens (tracing or metrics); else skip all of it."""
    return is_tracing() or is_metering()


@contextmanager
def processing(job: Job) -> Iterator[Any]:
    """Run the body inside a CONSUMER span for `job` (a no-op without a tracing SDK)."""
    if not is_tracing():
        yield None
        return
    parent = propagate.extract(job._trace_headers) if job._trace_headers else None
    links = []
    if parent is not None:
        producer = trace.get_current_span(parent).get_span_context()
        if producer.is_valid:
            links.append(Link(producer))
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": job.queue,
        "messaging.message.id": job.job_id,
        "messaging.spinach.task": job.task_name,
        "messaging.spinach.attempt": job.retries + 1,
    }
    with _tracer.start_as_current_span(
        f"process {job.queue}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def finished(
    span: Any, job: Job, outcome: Outcome, error: BaseException | None, seconds: float
) -> None:
    """Record the end of a run on its span and in the metrics."""
    if span is not None and error is not None:
        # Retries and aborts are control flow, not errors.
        if outcome.op == "f" and not isinstance(error, (RetryException, AbortException)):
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)))
            span.set_attribute("error.type", type(error).__qualname__)
        span.set_attribute("messaging.spinach.outcome", _OUTCOMES[outcome.op])
    if is_metering():
        labels = {
            "messaging.system": SYSTEM,
            "messaging.destination.name": job.queue,
            "messaging.spinach.task": job.task_name,
            "messaging.spinach.outcome": _OUTCOMES[outcome.op],
        }
        _processed.add(1, labels)
        _duration.record(seconds, labels)
