"""The per-job checks for an OpenTelemetry SDK: cheap while none is installed, and they notice
one installed after spinach was imported (each case runs in its own process: the API allows one
provider per process)."""

import os
import subprocess
import sys
import textwrap


def _run(code: str, env_var: str | None = None) -> None:
    env = None
    if env_var is not None:
        env = {**os.environ, env_var: "sdk_tracer_provider"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr


def test_an_sdk_installed_after_import_is_seen() -> None:
    _run(
        """
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider

        from spinach import telemetry

        assert not telemetry.is_tracing() and not telemetry.is_metering()
        trace.set_tracer_provider(TracerProvider())
        assert telemetry.is_tracing() and not telemetry.is_metering()
        metrics.set_meter_provider(MeterProvider())
        assert telemetry.is_tracing() and telemetry.is_metering()
        """
    )


def test_the_fast_no_answer_reads_the_globals_the_api_keeps() -> None:
    """Without these globals every check takes the API's slow getter: an OpenTelemetry release
    that renames them must be noticed here, not in the benchmark."""
    _run(
        """
        from opentelemetry import trace
        from opentelemetry.metrics import _internal

        assert trace._TRACER_PROVIDER is None
        assert _internal._METER_PROVIDER is None
        """
    )


def test_an_sdk_named_by_the_environment_is_loaded() -> None:
    _run(
        """
        from spinach import telemetry

        assert telemetry.is_tracing()
        """,
        env_var="OTEL_PYTHON_TRACER_PROVIDER",
    )
