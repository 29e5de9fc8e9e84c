"""Fixtures of the dashboard's integration tests: a namespace on a real redis-server with live
workers, the dashboard served over HTTP by waitress, and headless Chromium driven by Playwright.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dashboard.dashboard_app import FLAKY_ALLOWED, RELEASE_SLOW, tasks
from redis_server import RedisServer

from spinach import Engine, RedisBroker
from spinach_dashboard import create_app
from spinach_dashboard.server import served_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_HINT = (
    "Debian's chromium is not installed: apt-get install chromium (tools/dev.sh test does); "
    "never `playwright install`, which downloads a browser"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]


@pytest.fixture
def shop(redis_server: RedisServer) -> Iterator[Engine]:
    """The application's engine on a fresh namespace, with its workers running on `billing`."""
    FLAKY_ALLOWED.clear()
    RELEASE_SLOW.clear()
    engine = Engine(
        RedisBroker.from_url(redis_server.url), namespace=f"dash-{uuid.uuid4().hex[:8]}"
    )
    engine.attach_tasks(tasks)
    # A short lease: heartbeats (what each thread runs, periodic tasks) every second.
    engine.start_workers(number=4, queue="billing", block=False, lease_seconds=3)
    yield engine
    RELEASE_SLOW.set()
    engine.stop_workers()
    engine.broker.close()


@dataclass
class Served:
    """A dashboard served over HTTP on a loopback port."""

    url: str
    app: Any


@pytest.fixture
def served(shop: Engine) -> Iterator[Served]:
    yield from serve(create_app(shop, refresh_seconds=0.5))


def serve(app: Any) -> Iterator[Served]:
    with served_in_thread(app, threads=4) as server:
        yield Served(f"http://127.0.0.1:{server.effective_port}", app)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian chromium, launched by Playwright (which never downloads one here).

    Module-scoped: Playwright's sync API runs an event loop in this thread while it lives,
    and Django (test_django.py, later in the session) refuses to run inside one.
    """
    if not os.path.exists(CHROMIUM) and shutil.which("chromium") is None:
        pytest.fail(CHROMIUM_HINT) if os.environ.get("CI") else pytest.skip(CHROMIUM_HINT)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Europe/Paris"
    )
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
