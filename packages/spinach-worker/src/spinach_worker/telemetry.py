"""OpenTelemetry for the consumer side: a span around each job, and worker metrics.

The span continues the trace of the producer (its context travels in the job envelope) and
links to it, so a trace runs from the web request into the job. Only the OpenTelemetry API is
used; without an SDK nothing is built.
"""

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from spinach.exc import SpinachError
from spinach.job import Job
from spinach.protocol import Outcome, QueueBackend
from spinach.task import AbortException, RetryException
from spinach.telemetry import SYSTEM, is_metering, is_tracing

if TYPE_CHECKING:
    from spinach_worker.prometheus import Sink

_tracer = trace.get_tracer("spinach.worker")
_meter = metrics.get_meter("spinach.worker")
_processed = _meter.create_counter(
    "spinach.jobs.processed", unit="{job}", description="Jobs run, by outcome"
)
_duration = _meter.create_histogram(
    "spinach.job.duration", unit="s", description="How long jobs ran"
)
_leases_recovered = _meter.create_counter(
    "spinach.leases.recovered",
    unit="{job}",
    description="Jobs whose worker stopped renewing their lease, taken over by recovery",
)

#: Where the hooks also send their samples when Prometheus metrics are on (see prometheus.py).
_sink: "Sink | None" = None


class MetricsUnavailableError(SpinachError):
    """Prometheus metrics were asked for without prometheus-client installed."""


def prometheus() -> ModuleType:
    """Import spinach_worker.prometheus, or say which extra installs what it needs."""
    try:
        from spinach_worker import prometheus as module
    except ModuleNotFoundError as e:
        if e.name is None or not e.name.startswith("prometheus_client"):
            raise
        raise MetricsUnavailableError(
            "--metrics needs prometheus-client: pip install 'spinach-worker[prometheus]'"
        ) from None
    return module


def set_metrics_sink(sink: "Sink | None") -> None:
    """Send the samples of the hooks below to `sink` as well (None: OpenTelemetry only)."""
    global _sink
    _sink = sink


#: The outcome label of every op a run can end with (see spinach.protocol.Outcome).
_OUTCOMES = {
    "s": "succeeded",
    "S": "succeeded",  # with a result kept
    "f": "failed",
    "F": "failed",
    "r": "retried",
    "R": "retried",
    "c": "cancelled",
}


def observed() -> bool:
    """Whether anything listens (an OpenTelemetry SDK, or Prometheus); else skip all of it."""
    return _sink is not None or is_tracing() or is_metering()


@contextmanager
def processing(job: Job) -> Iterator[Any]:
    """Run the body inside a CONSUMER span for `job` (a no-op without a tracing SDK)."""
    if not is_tracing():
        yield None
        return
    from opentelemetry import propagate  # here: only a process with an SDK gets this far

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
    sink = _sink
    if sink is not None:
        sink.finished(job.queue, job.task_name, _OUTCOMES[outcome.op], seconds)


def leases_recovered(queue: str, count: int, *, namespace: str) -> None:
    """Count `count` jobs of `queue` taken over by lease recovery (their worker went silent).

    Called with the count the lease renewal script returns; a count of 0 records nothing.
    """
    if count <= 0:
        return
    if is_metering():
        _leases_recovered.add(count, _labels(namespace, queue))
    sink = _sink
    if sink is not None:
        sink.leases_recovered(namespace, queue, count)


#: The queues whose workers run in this process, sampled by the gauges below.
_observed: dict[tuple[str, str], QueueBackend] = {}
_gauges_lock = threading.Lock()
_gauges_created = False


def observe_queue(broker: QueueBackend, queue: str) -> None:
    """Report the queue's depth and the age of its oldest ready job while its workers run.

    The gauges are sampled when the SDK's reader collects (never per job): one or two Redis
    calls per queue and collection.
    """
    global _gauges_created
    _observed[(broker.namespace, queue)] = broker
    with _gauges_lock:
        if _gauges_created:
            return
        _gauges_created = True
    _meter.create_observable_gauge(
        "spinach.queue.depth", [_depth], unit="{job}", description="Jobs of a queue, by state"
    )
    _meter.create_observable_gauge(
        "spinach.queue.oldest_ready_age", [_oldest], unit="s",
        description="How long the oldest ready job of a queue has waited",
    )  # fmt: skip


def observed_queues() -> list[tuple[str, str, QueueBackend]]:
    """(namespace, queue, broker) of every queue whose workers run in this process."""
    return [(namespace, queue, broker) for (namespace, queue), broker in list(_observed.items())]


def forget_queue(broker: QueueBackend, queue: str) -> None:
    """Stop sampling `queue` (its workers stopped)."""
    _observed.pop((broker.namespace, queue), None)


def _depth(options: CallbackOptions) -> Iterable[Observation]:
    for (namespace, queue), broker in list(_observed.items()):
        try:
            stats = broker.queue_stats(queue)
        except Exception:  # noqa: BLE001 - Redis away: no sample this time
            continue
        for state, count in (("ready", stats.ready), ("delayed", stats.delayed),
                             ("running", stats.running)):  # fmt: skip
            yield Observation(
                count, {**_labels(namespace, queue), "messaging.spinach.state": state}
            )


def _oldest(options: CallbackOptions) -> Iterable[Observation]:
    for (namespace, queue), broker in list(_observed.items()):
        try:
            age = broker.queue_stats(queue).oldest_ready_age
        except Exception:  # noqa: BLE001 - Redis away: no sample this time
            continue
        yield Observation(0.0 if age is None else age, _labels(namespace, queue))


def _labels(namespace: str, queue: str) -> dict[str, str]:
    return {
        "messaging.system": SYSTEM,
        "messaging.destination.name": queue,
        "messaging.spinach.namespace": namespace,
    }
