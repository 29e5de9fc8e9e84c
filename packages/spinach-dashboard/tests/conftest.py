"""Fixtures of the dashboard unit tests: an engine on the embedded broker, a browser."""

import uuid
from collections.abc import Iterator

import pytest
from dashboard_helpers import RELEASE, Browser, tasks

from spinach import Engine, MemoryBroker
from spinach_dashboard import create_app


@pytest.fixture
def spin() -> Iterator[Engine]:
    engine = Engine(MemoryBroker(), namespace=f"dash-{uuid.uuid4().hex[:8]}")
    engine.attach_tasks(tasks)
    RELEASE.clear()
    yield engine
    RELEASE.set()
    engine.stop_workers()


@pytest.fixture
def browser(spin: Engine) -> Browser:
    return Browser(create_app(spin))
