"""Helpers of the dashboard unit tests: tasks that fail, a client keeping cookies like a browser."""

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from werkzeug.test import Client, TestResponse

from spinach import Engine, RedisBroker, Tasks, current_job

tasks = Tasks()


@tasks.task(name="shop:fail", max_retries=0)
def fail(text: str, *, note: str = "") -> None:
    raise ValueError(f"cannot process {text}")


@tasks.task(name="shop:other", max_retries=0)
def other(n: int) -> None:
    raise RuntimeError("other")


@tasks.task(name="shop:later")
def later(n: int) -> None:
    pass


@tasks.task(name="shop:double")
def double(n: int) -> int:
    return 2 * n


@tasks.task(name="shop:total", store_result=True)
def total(n: int) -> dict[str, int]:
    current_job().report_progress(1, "counted")
    return {"total": n}


@tasks.task(name="shop:limited", max_retries=1, max_concurrency=2)
def limited() -> None:
    pass


@tasks.task(name="mail:bounce", queue="emails", max_retries=0)
def bounce(address: str) -> None:
    raise ConnectionError(f"mailbox unavailable: {address}")


#: Holds `shop:block` jobs running until a test sets it.
RELEASE = threading.Event()


@tasks.task(name="shop:block")
def block(n: int) -> None:
    RELEASE.wait(30)


def run_until_empty(engine: Engine, queue: str = "spinach") -> None:
    engine.start_workers(number=2, queue=queue, block=True, stop_when_queue_empty=True)


def standalone(engine: Engine) -> Engine:
    """An Engine without tasks on the data of `engine` (as `spinach dashboard` has one)."""
    import fakeredis

    server = engine.broker.client.connection_pool.connection_kwargs["server"]
    return Engine(RedisBroker(fakeredis.FakeRedis(server=server)), namespace=engine.namespace)


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, message: str = "") -> Any:
    """Wait until `predicate()` is true (and return it), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message or predicate}")
        time.sleep(0.02)
    return result


TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


class Browser:
    """A werkzeug client that keeps cookies, like a browser, and reads the forms' CSRF token."""

    def __init__(self, app: object, prefix: str = "") -> None:
        self.client = Client(app)  # type: ignore[arg-type]
        self.prefix = prefix

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(self.prefix + path, **kwargs)

    def token(self, path: str = "/") -> str:
        match = TOKEN.search(self.get(path).get_data(as_text=True))
        assert match, "the page has no CSRF token"
        return match.group(1)

    def post(
        self, path: str, data: dict[str, str] | None = None, token: bool = True
    ) -> TestResponse:
        form = dict(data or {})
        if token:
            form.setdefault("csrf_token", self.token())
        return self.client.post(self.prefix + path, data=form)
