"""Prometheus metrics of the workers, as /metrics on the health port (off by default).

Built on ``prometheus-client`` (the extra ``spinach-worker[prometheus]``) rather than the
OpenTelemetry Prometheus exporter, for two reasons:

- ``--processes N`` needs the counts of N processes added up on one endpoint. prometheus-client
  does exactly that (its multiprocess mode: each process writes its samples to files in a
  directory, the supervisor's scrape adds them up); the exporter serves one process only.
- The exporter needs an OpenTelemetry SDK MeterProvider installed as the global one, which is
  the application's to choose: a worker must not take it over, nor give up /metrics because the
  application already set its own.

The samples come from the hooks of telemetry.py (one instrumentation path: each hook feeds
OpenTelemetry and, when enabled, this module). Queue depth and the age of the oldest ready job
are read from Redis when Prometheus scrapes, never per job.
"""

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from spinach_worker import health, telemetry

#: The environment variable prometheus-client's multiprocess mode reads in each process.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Job durations: from a fast no-op to a five-minute report.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

_lock = threading.Lock()
_sink: "Sink | None" = None
_registry: Any = None


class Sink:
    """The Prometheus side of the telemetry hooks: counters and a histogram, labelled by task."""

    def __init__(self, registry: Any) -> None:
        job_labels = ["queue", "task"]
        self.jobs = Counter(
            "spinach_jobs",
            "Jobs run by the workers, by outcome (succeeded, failed, retried, cancelled)",
            [*job_labels, "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "spinach_job_duration_seconds",
            "How long jobs ran, whatever their outcome",
            job_labels,
            buckets=BUCKETS,
            registry=registry,
        )
        self.leases = Counter(
            "spinach_leases_recovered",
            "Jobs whose worker stopped renewing their lease, taken over by lease recovery",
            ["namespace", "queue"],
            registry=registry,
        )

    def finished(self, queue: str, task: str, outcome: str, seconds: float) -> None:
        self.jobs.labels(queue, task, outcome).inc()
        self.duration.labels(queue, task).observe(seconds)

    def leases_recovered(self, namespace: str, queue: str, count: int) -> None:
        self.leases.labels(namespace, queue).inc(count)


class QueueCollector(Collector):
    """Queue depth by state and the age of the oldest ready job, read from Redis at scrape."""

    def collect(self) -> Iterable[Any]:
        depth = GaugeMetricFamily(
            "spinach_queue_jobs",
            "Jobs of a queue, by state (ready, delayed, running)",
            labels=["namespace", "queue", "state"],
        )
        oldest = GaugeMetricFamily(
            "spinach_queue_oldest_ready_age_seconds",
            "How long the oldest ready job of a queue has waited (0 when none is ready)",
            labels=["namespace", "queue"],
        )
        for namespace, queue, broker in telemetry.observed_queues():
            try:
                stats = broker.queue_stats(queue)
                age = stats.oldest_ready_age
            except Exception:  # noqa: BLE001 - Redis away: no sample this time
                continue
            for state, count in (("ready", stats.ready), ("delayed", stats.delayed),
                                 ("running", stats.running)):  # fmt: skip
                depth.add_metric([namespace, queue, state], count)
            oldest.add_metric([namespace, queue], 0.0 if age is None else age)
        yield depth
        yield oldest


def enable(multiprocess: bool = False) -> None:
    """Collect the worker metrics in this process and serve them as /metrics.

    `multiprocess`: this process is a supervisor. It makes the directory where its children
    write their samples (they find it in their environment) and serves their sum; it removes
    the directory when it exits. Import this module with telemetry.prometheus(), which says
    which extra to install when prometheus-client is missing.
    """
    global _sink, _registry
    with _lock:
        if _registry is not None:
            return
        if multiprocess:
            directory = tempfile.mkdtemp(prefix="spinach-metrics-")
            os.environ[MULTIPROC_ENV] = directory
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        else:
            # The default registry: the process and platform metrics come along, and so do the
            # application's own metrics (in a child of a supervisor, they land in its files).
            registry = prometheus_client.REGISTRY
            _sink = Sink(registry)
        registry.register(QueueCollector())
        _registry = registry
    telemetry.set_metrics_sink(_sink)
    health.serve_metrics(page)


def page() -> tuple[bytes, str]:
    """The /metrics page: the Prometheus text format."""
    if _registry is None:
        raise RuntimeError("Metrics are not enabled: call prometheus.enable() first")
    return prometheus_client.generate_latest(_registry), prometheus_client.CONTENT_TYPE_LATEST


def disable() -> None:
    """Stop collecting (for tests): the hooks cost nothing again, /metrics is a 404."""
    global _sink, _registry
    with _lock:
        if _registry is not None and _registry is prometheus_client.REGISTRY and _sink is not None:
            for metric in (_sink.jobs, _sink.duration, _sink.leases):
                _registry.unregister(metric)
        if _registry is not None:
            for collector in list(_registry._collector_to_names):
                if isinstance(collector, QueueCollector):
                    _registry.unregister(collector)
        _sink, _registry = None, None
    telemetry.set_metrics_sink(None)
    health.serve_metrics(None)
