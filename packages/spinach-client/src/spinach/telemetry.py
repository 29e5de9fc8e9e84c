"""OpenTelemetry for the producer side: a span per send, trace context carried in the job.

Only the OpenTelemetry API is used: everything is a no-op until the application installs and
configures an SDK, and until then costs one check per call.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as _metrics_api
from opentelemetry.trace import SpanKind

SYSTEM = "spinach"

_tracer = trace.get_tracer("spinach")
_meter = metrics.get_meter("spinach")
_sent = _meter.create_counter("spinach.jobs.sent", unit="{job}", description="Jobs sent to queues")


# An SDK is installed once per process and never taken away, so a yes is kept for good. A no
# is looked up again on every call (the application may install an SDK after import), from the
# API's own global where it has one: its public getter also reads os.environ on every call, which
# cost a few microseconds per job. An SDK named by an environment variable at start-up is loaded
# by the public getter, which the first call then uses (the variable must be set when the
# process starts, as OpenTelemetry's own instrumentation sets it: one set later is not seen).
_tracing = False
_metering = False
_TRACER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
_METER_FROM_ENV = "OTEL_PYTHON_METER_PROVIDER" in os.environ


def is_tracing() -> bool:
    """Whether a tracing SDK is installed (without one, spans are not even built)."""
    global _tracing
    if _tracing:
        return True
    if not _TRACER_FROM_ENV and getattr(trace, "_TRACER_PROVIDER", True) is None:
        return False  # nothing set yet (an API without that global takes the public path)
    _tracing = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return _tracing


def is_metering() -> bool:
    """Whether a metrics SDK is installed."""
    global _metering
    if _metering:
        return True
    if not _METER_FROM_ENV and getattr(_metrics_api, "_METER_PROVIDER", True) is None:
        return False
    # The API's default provider is a proxy until an SDK is set (its class is private).
    _metering = type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider"
    return _metering


class _Unobserved:
    """What `sending` gives while no SDK listens: no span, no trace headers."""

    __slots__ = ()

    def __enter__(self) -> dict[str, str]:
        return {}

    def __exit__(self, *exc_info: object) -> None:
        return None


_UNOBSERVED = _Unobserved()


def sending(
    destination: Callable[[], str], count: int, job_id: str = "", task: str = ""
) -> AbstractContextManager[dict[str, str]]:
    """Wrap sending `count` jobs in a PRODUCER span; yield the trace headers for their envelopes.

    `destination` names the queue (or queues, comma-separated, for a batch); it is only called
    when an SDK listens.
    """
    if not is_metering() and not is_tracing():
        return _UNOBSERVED  # the common case costs no generator
    return _observed_sending(destination, count, job_id, task)


@contextmanager
def _observed_sending(
    destination: Callable[[], str], count: int, job_id: str, task: str
) -> Iterator[dict[str, str]]:
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
        from opentelemetry import propagate  # here: only a process with an SDK gets this far

        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers
