"""OpenTelemetry for the producer side: a span per send, trace context carried in the job.

Only the OpenTelemetry API is used: everything is a no-op until the application installs and
configures an SDK, and until then costs one check per call.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind

SYSTEM = "spinach"

_tracer = trace.get_tracer("spinach")
_meter = metrics.get_meter("spinach")
_sent = _meter.create_counter("spinach.jobs.sent", unit="{job}", description="Jobs sent to queues")


def is_tracing() -> bool:
    """Whether a tracing SDK is installed (without one, spans are not even built)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def is_metering() -> bool:
    """Whether a metrics SDK is installed."""
    # The API's default provider is a proxy until an SDK is set (its class is private).
    return type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider"


@contextmanager
def sending(
    destination: Callable[[], str], count: int, job_id: str = "", task: str = ""
) -> Iterator[dict[str, str]]:
    """Wrap sending `count` jobs in a PRODUCER span; yield the trace headers for their envelopes.

    `destination` names the queue (or queues, comma-separated, for a batch); it is only called
    when an SDK listens.
    """
    if is_metering():
        _sent.add(count, {"messaging.system": SYSTEM, "messaging.destination.name": destination()})
    if not is_tracing():
        yield {}
        return
    queue = destination()
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": queue,
    }
    if count == 1 and job_id:
        attributes["messaging.message.id"] = job_id
        attributes["messaging.spinach.task"] = task
    else:
        attributes["messaging.batch.message_count"] = count
    with _tracer.start_as_current_span(
        f"send {queue}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers
