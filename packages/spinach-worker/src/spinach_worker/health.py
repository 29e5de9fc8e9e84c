"""HTTP health endpoints of a worker process, for Kubernetes probes and load balancers.

- ``/livez``: the worker's loops are turning (the fetcher made progress recently). It does not
  touch Redis: a Redis outage must not make an orchestrator restart every worker at once.
- ``/readyz``: Redis answers, and the worker is not shutting down.
- ``/metrics``: the Prometheus metrics, when enabled (``--metrics``, see prometheus.py).
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("spinach.worker")

#: Renders a page: its body and its Content-Type.
Page = Callable[[], tuple[bytes, str]]

#: The /metrics page of this process, once metrics are enabled (None: /metrics is a 404).
_metrics_page: Page | None = None


def serve_metrics(page: Page | None) -> None:
    """Serve `page` as /metrics on the health server of this process (None: stop serving it)."""
    global _metrics_page
    _metrics_page = page


class HealthServer:
    """Serve /livez and /readyz on `host`:`port` from a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        alive: Callable[[], tuple[bool, dict[str, Any]]],
        ready: Callable[[], tuple[bool, dict[str, Any]]],
        metrics: Page | None = None,
    ) -> None:
        import http.server  # only where a health port is asked for: it costs start-up time

        checks = {"/livez": alive, "/readyz": ready}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._metrics()
                    return
                check = checks.get(path)
                if check is None:
                    self.send_error(404)
                    return
                try:
                    ok, details = check()
                except Exception as e:  # noqa: BLE001 - a failing check is a failed probe
                    ok, details = False, {"error": str(e)}
                body = json.dumps({"ok": ok, **details}).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _metrics(self) -> None:
                page = metrics or _metrics_page
                if page is None:
                    self.send_error(404, "Metrics are off: start the worker with --metrics")
                    return
                try:
                    body, content_type = page()
                except Exception:
                    logger.exception("Cannot render /metrics")
                    self.send_error(500)
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("health: " + format, *args)

        self._metrics = metrics
        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="spinach-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        extra = ", /metrics" if (self._metrics or _metrics_page) else ""
        logger.info("Health endpoints on port %d: /livez, /readyz%s", self.port, extra)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def since(moment: float | None) -> float | None:
    """Seconds since a time.monotonic() moment, rounded for reports."""
    return None if moment is None else round(time.monotonic() - moment, 3)
