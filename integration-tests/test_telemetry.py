"""OpenTelemetry: a trace runs from the code that schedules a job into the job itself."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from helpers import Ledger
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from spinach import AbortException, Batch, Engine, MemoryBroker, Tasks
from spinach.retry import ExponentialBackoff

EXPORTER = InMemorySpanExporter()
READER = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def sdk() -> Iterator[None]:
    """Install the OpenTelemetry SDK once (the API allows one provider per process)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))
    yield


@pytest.fixture
def spans() -> InMemorySpanExporter:
    EXPORTER.clear()
    return EXPORTER


def _engine(ledger: Ledger) -> Engine:
    spin = Engine(MemoryBroker(), namespace="otel")
    tasks = Tasks()
    fast = ExponentialBackoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=10))

    @tasks.task(name="work")
    def work(i: int) -> None:
        ledger.add(trace.get_current_span().get_span_context().trace_id)

    @tasks.task(name="boom")
    def boom() -> None:
        raise ValueError("bad input")

    @tasks.task(name="flaky", max_retries=1, retry_policy=fast)
    def flaky() -> None:
        ledger.add("flaky")
        if len([e for e in ledger.entries if e == "flaky"]) == 1:
            raise ConnectionError("try again")

    @tasks.task(name="stop", max_retries=3)
    def stop() -> None:
        raise AbortException("no point")

    spin.attach_tasks(tasks)
    return spin


def test_a_job_continues_the_trace_of_the_request_that_scheduled_it(
    spans: InMemorySpanExporter, ledger: Ledger
) -> None:
    spin = _engine(ledger)
    tracer = trace.get_tracer("web")
    with tracer.start_as_current_span("GET /checkout") as request:
        job = spin.schedule("work", 1)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)

    send = next(s for s in spans.get_finished_spans() if s.name == "send spinach")
    process = next(s for s in spans.get_finished_spans() if s.name == "process spinach")
    assert send.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
    assert send.parent.span_id == request.get_span_context().span_id
    assert process.parent.span_id == send.context.span_id
    assert process.context.trace_id == request.get_span_context().trace_id
    assert [link.context.span_id for link in process.links] == [send.context.span_id]
    assert ledger.entries == [request.get_span_context().trace_id]  # the task sees the span
    for span, operation in ((send, "send"), (process, "process")):
        assert span.attributes["messaging.system"] == "spinach"
        assert span.attributes["messaging.operation.name"] == operation
        assert span.attributes["messaging.operation.type"] == operation
        assert span.attributes["messaging.destination.name"] == "spinach"
        assert span.attributes["messaging.message.id"] == job.job_id
        assert span.attributes["messaging.spinach.task"] == "work"
    assert process.attributes["messaging.spinach.attempt"] == 1


def test_a_batch_is_one_send_span_counting_its_jobs(
    spans: InMemorySpanExporter, ledger: Ledger
) -> None:
    spin = _engine(ledger)
    batch = Batch()
    for i in range(5):
        batch.schedule("work", i)
    spin.schedule_batch(batch)
    [send] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert send.attributes["messaging.batch.message_count"] == 5
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    consumers = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert len(consumers) == 5 and {s.parent.span_id for s in consumers} == {send.context.span_id}


def test_failures_set_the_status_but_retries_and_aborts_are_not_errors(
    spans: InMemorySpanExporter, ledger: Ledger
) -> None:
    spin = _engine(ledger)
    for name in ("boom", "flaky", "stop"):
        spin.schedule(name)
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    process = {}
    for span in spans.get_finished_spans():
        if span.kind is SpanKind.CONSUMER:
            process.setdefault(span.attributes["messaging.spinach.task"], []).append(span)
    [boom] = process["boom"]
    assert boom.status.status_code is StatusCode.ERROR
    assert boom.attributes["error.type"] == "ValueError"
    assert [s.status.status_code for s in process["flaky"]] == [StatusCode.UNSET] * 2
    assert [s.attributes["messaging.spinach.attempt"] for s in process["flaky"]] == [1, 2]
    assert process["stop"][0].status.status_code is StatusCode.UNSET


def test_metrics_count_jobs_sent_and_processed_by_outcome(ledger: Ledger) -> None:
    spin = _engine(ledger)
    spin.schedule("work", 1)
    spin.schedule("boom")
    spin.start_workers(number=1, block=True, stop_when_queue_empty=True)
    points: dict[tuple[str, str], float] = {}
    data = READER.get_metrics_data()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, str(point.attributes.get("messaging.spinach.outcome", "")))
                    points[key] = getattr(point, "value", getattr(point, "count", 0))
    assert points[("spinach.jobs.sent", "")] >= 2
    assert points[("spinach.jobs.processed", "succeeded")] >= 1
    assert points[("spinach.jobs.processed", "failed")] >= 1
    assert points[("spinach.job.duration", "failed")] >= 1


def test_queue_depth_and_oldest_ready_age_are_sampled(ledger: Ledger) -> None:
    import threading

    hold = threading.Event()
    spin = Engine(MemoryBroker(), namespace="otel-gauges")
    tasks = Tasks()
    tasks.add(lambda: hold.wait(10), name="hold")
    spin.attach_tasks(tasks)
    for _ in range(4):
        spin.schedule("hold")
    spin.start_workers(number=1, block=False)  # one runs, three wait
    from helpers import wait_for

    wait_for(lambda: spin.broker.queue_stats("spinach").running == 1, message="one running")
    gauges: dict[tuple[str, str], float] = {}
    for resource in READER.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name.startswith("spinach.queue."):
                    for point in metric.data.data_points:
                        state = str(point.attributes.get("messaging.spinach.state", ""))
                        gauges[(metric.name, state)] = point.value
    hold.set()
    spin.stop_workers()
    assert gauges[("spinach.queue.depth", "ready")] == 3
    assert gauges[("spinach.queue.depth", "running")] == 1
    assert gauges[("spinach.queue.oldest_ready_age", "")] >= 0


@pytest.mark.redis
def test_the_asyncio_client_sends_the_spans_the_engine_sends(
    spans: InMemorySpanExporter, ledger: Ledger, redis_server: Any
) -> None:
    import asyncio

    from spinach import RedisBroker
    from spinach.aio import AsyncEngine, AsyncRedisBroker

    spin = Engine(RedisBroker.from_url(redis_server.url), namespace="otel-aio")
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(trace.get_current_span().get_span_context().trace_id), "work")
    spin.attach_tasks(tasks)
    tracer = trace.get_tracer("web")

    def batch() -> Batch:
        jobs = Batch()
        for i in range(3):
            jobs.schedule("work", i)
        return jobs

    async def send() -> tuple[Any, str]:
        aspin = AsyncEngine(spin, AsyncRedisBroker.from_url(redis_server.url))
        with tracer.start_as_current_span("POST /async") as request:
            job = await aspin.schedule("work", 1)
            await aspin.schedule_batch(batch())
        await aspin.close()
        return request, job.job_id

    with tracer.start_as_current_span("POST /sync") as sync_request:
        sync_job = spin.schedule("work", 1)
        spin.schedule_batch(batch())
    async_request, async_job_id = asyncio.run(send())
    spin.start_workers(number=2, block=True, stop_when_queue_empty=True)
    spin.broker.close()

    finished = spans.get_finished_spans()
    producers = [s for s in finished if s.kind is SpanKind.PRODUCER]
    assert len(producers) == 4
    by_request = {
        parent: [s for s in producers if s.parent.span_id == parent]
        for parent in (
            sync_request.get_span_context().span_id,
            async_request.get_span_context().span_id,
        )
    }
    (sync_one, sync_batch), (async_one, async_batch) = by_request.values()
    for sync_span, async_span in ((sync_one, async_one), (sync_batch, async_batch)):
        assert async_span.name == sync_span.name == "send spinach"
        ids = {"messaging.message.id"}
        assert {k: v for k, v in async_span.attributes.items() if k not in ids} == {
            k: v for k, v in sync_span.attributes.items() if k not in ids
        }
    assert sync_one.attributes["messaging.message.id"] == sync_job.job_id
    assert async_one.attributes["messaging.message.id"] == async_job_id
    assert async_batch.attributes["messaging.batch.message_count"] == 3
    # The jobs sent from asyncio continue the request's trace into the worker.
    consumers = [s for s in finished if s.kind is SpanKind.CONSUMER]
    assert len(consumers) == 8
    async_sends = {async_one.context.span_id, async_batch.context.span_id}
    assert len([s for s in consumers if s.parent.span_id in async_sends]) == 4
    assert ledger.entries.count(async_request.get_span_context().trace_id) == 4
