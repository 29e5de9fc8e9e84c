"""Prometheus metrics in one process: off by default, fed by the telemetry hooks when on."""

from collections.abc import Iterator

import pytest

from spinach.job import Job, JobStatus
from spinach.protocol import Outcome
from spinach.telemetry import is_metering, is_tracing
from spinach.utils import now_utc
from spinach_worker import health, telemetry


def sdk() -> bool:
    """Whether another test of this process installed an OpenTelemetry SDK."""
    return is_tracing() or is_metering()


@pytest.fixture
def prometheus() -> Iterator[object]:
    module = telemetry.prometheus()
    module.enable()
    yield module
    module.disable()


def test_metrics_are_off_by_default_and_cost_the_hooks_nothing() -> None:
    assert telemetry._sink is None
    assert health._metrics_page is None
    assert telemetry.observed() == sdk()  # without an SDK either, jobs skip telemetry altogether


def test_leases_recovered_are_counted_by_namespace_and_queue(prometheus: object) -> None:
    telemetry.leases_recovered("emails", 3, namespace="shop")
    telemetry.leases_recovered("emails", 0, namespace="shop")  # a renewal that recovered none
    telemetry.leases_recovered("emails", 2, namespace="shop")
    body, content_type = telemetry.prometheus().page()
    assert content_type.startswith("text/plain")
    assert b'spinach_leases_recovered_total{namespace="shop",queue="emails"} 5.0' in body


def test_enabling_makes_jobs_observed_and_disabling_undoes_it(prometheus: object) -> None:
    assert telemetry.observed()
    assert health._metrics_page is not None
    telemetry.prometheus().disable()
    assert telemetry.observed() == sdk() and health._metrics_page is None
    telemetry.prometheus().enable()  # enabling again works (the fixture disables at the end)
    assert b"spinach_leases_recovered" in telemetry.prometheus().page()[0]


@pytest.mark.parametrize(
    ("op", "label"),
    [("s", "succeeded"), ("S", "succeeded"), ("f", "failed"), ("F", "failed"),
     ("r", "retried"), ("R", "retried"), ("c", "cancelled")],
)  # fmt: skip
def test_every_outcome_of_a_run_is_counted(prometheus: object, op: str, label: str) -> None:
    """A success that keeps its result ('S') or a cancelled run is counted as such: an op
    without a label made the hook raise, which failed the job that had succeeded."""
    job = Job._scheduled("t", f"q-{op}", now_utc(), 0, JobStatus.RUNNING, (), {}, "id")
    telemetry.finished(None, job, Outcome(op, "id"), None, 0.01)
    body = telemetry.prometheus().page()[0]
    assert f'queue="q-{op}",task="t"'.encode() in body
    assert f'outcome="{label}",queue="q-{op}",task="t"}} 1.0'.encode() in body
