"""Helpers of the dashboard unit tests: tasks that fail, a client keeping cookies like a browser."""

import re
from typing import Any

from werkzeug.test import Client, TestResponse

from spinach import Engine, Tasks

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


@tasks.task(name="shop:limited", max_retries=1, max_concurrency=2)
def limited() -> None:
    pass


def run_until_empty(engine: Engine) -> None:
    engine.start_workers(number=2, block=True, stop_when_queue_empty=True)


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
