"""Every value read from Redis renders as text: arguments, errors, tracebacks, task names,
worker hosts, on every page that shows them."""

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from dashboard_helpers import Browser, run_until_empty, wait_for

from spinach import Engine, MemoryBroker, Tasks
from spinach_dashboard import create_app

XSS_SCRIPT = "<script>window.__xss = 1</script>"
XSS_ATTRIBUTE = '"><img src=x onerror=alert(1)>'
XSS_TASK = '<img src=x onerror="alert(2)">'
XSS_HOST = '<svg onload="alert(3)">'


def text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def assert_escaped(page: str, where: str) -> None:
    assert "<script>window.__xss" not in page, where
    assert "<img src=x" not in page, where
    assert "<svg onload" not in page, where


def test_arguments_and_errors_holding_html_render_as_text(spin: Engine, browser: Browser) -> None:
    job = spin.schedule("shop:fail", XSS_SCRIPT, note=XSS_ATTRIBUTE)
    run_until_empty(spin)
    for path in (f"/jobs/{job.job_id}", "/jobs?state=failed"):
        page = text(browser.get(path))
        assert_escaped(page, path)
        assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page, path
    page = text(browser.get(f"/jobs/{job.job_id}"))
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_traceback_holding_html_renders_as_text(spin: Engine, browser: Browser) -> None:
    job = spin.schedule("shop:fail", XSS_SCRIPT + XSS_ATTRIBUTE)
    run_until_empty(spin)
    page = text(browser.get(f"/jobs/{job.job_id}"))
    traceback = re.search(r'<pre class="traceback" id="job-traceback">(.*?)</pre>', page, re.S)
    assert traceback is not None
    assert (
        "ValueError: cannot process &lt;script&gt;window.__xss = 1&lt;/script&gt;" in (traceback[1])
    )
    assert_escaped(page, "job page")


@pytest.fixture
def hostile(monkeypatch: Any) -> Any:
    """A namespace whose task names and worker host hold HTML, with a job of each state."""
    monkeypatch.setattr("socket.gethostname", lambda: XSS_HOST)
    release = threading.Event()
    tasks = Tasks()

    @tasks.task(name=XSS_TASK, max_retries=0)
    def hostile_task(block: bool) -> None:
        if block:
            release.wait(30)
        else:
            raise RuntimeError("failed")

    @tasks.task(name=XSS_TASK + "periodic", periodicity=timedelta(hours=1))
    def periodic() -> None:
        pass

    @tasks.task(name=XSS_TASK + "limited", max_retries=1, max_concurrency=1)
    def limited() -> None:
        pass

    @tasks.task(name=XSS_TASK + "unserved", queue="unserved")
    def unserved() -> None:
        pass

    spin = Engine(MemoryBroker(), namespace="hostile")
    spin.attach_tasks(tasks)
    spin.schedule(XSS_TASK, False)
    run_until_empty(spin)
    running = spin.schedule(XSS_TASK, True)
    spin.schedule(XSS_TASK + "unserved")  # no worker serves its queue: it stays ready
    spin.schedule_in(XSS_TASK, timedelta(hours=1), False)
    spin.start_workers(number=2, block=False, lease_seconds=0.6)
    try:
        wait_for(
            lambda: any(w.running for w in spin.status().workers) and spin.status().periodic,
            message="the worker to report its running job and periodic task",
        )
        yield spin, running.job_id
    finally:
        release.set()
        spin.stop_workers()


def test_task_names_and_worker_hosts_holding_html_render_as_text(hostile: Any) -> None:
    spin, running_id = hostile
    browser = Browser(create_app(spin))
    paths = [
        "/",
        "/workers",
        *(
            f"/jobs?state={state}"
            for state in ("ready", "delayed", "running", "failed", "finished")
        ),
        f"/jobs?state=failed&task={XSS_TASK}",
        f"/jobs/{running_id}",
        "/periodic",
        "/limits",
    ]
    for path in paths:
        page = text(browser.get(path))
        assert_escaped(page, path)
    workers = text(browser.get("/workers"))
    assert "&lt;svg onload=&#34;alert(3)&#34;&gt;" in workers
    assert '<span class="task">&lt;img src=x onerror=&#34;alert(2)&#34;&gt;</span>' in workers
    for path in (
        "/periodic",
        "/limits",
        "/jobs?state=ready",
        "/jobs?state=delayed",
        "/jobs?state=failed",
        f"/jobs/{running_id}",
    ):
        assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in text(browser.get(path)), path
    assert "&lt;svg onload=" in text(browser.get("/periodic"))  # who declares it
    assert "&lt;svg onload=" in text(browser.get("/jobs?state=running"))
    assert "&lt;svg onload=" in text(browser.get(f"/jobs/{running_id}"))
