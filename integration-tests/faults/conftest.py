"""Fixtures of the fault-injection suite: a Redis of its own, worker processes, a client."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults.harness import NAMESPACE, Fleet
from redis_server import INSTALL_HINT, RedisServer

from spinach import Engine, RedisBroker, Tasks


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A redis-server for this test alone (AOF with fsync always when marked `aof`)."""
    args: list[str] = []
    if request.node.get_closest_marker("aof"):
        args = ["--appendonly", "yes", "--appendfsync", "always"]
    try:
        srv = RedisServer(args)
    except RuntimeError:
        pytest.fail(INSTALL_HINT) if os.environ.get("CI") else pytest.skip(INSTALL_HINT)
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture
def fleet(server: RedisServer, tmp_path: Path) -> Iterator[Fleet]:
    group = Fleet(server.url, tmp_path)
    yield group
    group.stop_all()


@pytest.fixture
def client_engine(server: RedisServer) -> Engine:
    """The web app's side: schedules the tasks of fault_app.py by name."""
    spin = Engine(RedisBroker.from_url(server.url), namespace=NAMESPACE)
    tasks = Tasks()
    tasks.add(lambda key, ms=0: None, name="again", max_retries=1000)
    tasks.add(lambda key, ms=0: None, name="once")
    tasks.add(lambda key, ms=0: None, name="paced", rate_limit="2/s", max_retries=1000)
    tasks.add(lambda key, due: None, name="stamp")
    tasks.add(lambda key, ms=0: None, name="bounded")
    tasks.add(lambda key, ms=0: None, name="member", max_retries=1000)
    tasks.add(lambda results, key: None, name="joined")
    tasks.add(lambda summary, key: None, name="completed")
    spin.attach_tasks(tasks)
    return spin
