"""The dashboard in headless Chromium, against a real redis-server with live workers.

Each test opens pages as an operator would, clicks the buttons, and sees the state change.
Playwright's expectations wait (with a deadline) for what the page should show.
"""

import re
from datetime import timedelta
from typing import Any

import pytest
from dashboard.conftest import Served, serve
from dashboard.dashboard_app import FLAKY_ALLOWED, RELEASE_SLOW
from helpers import wait_for
from playwright.sync_api import expect

from spinach import Engine, RedisBroker
from spinach.job import JobStatus
from spinach_dashboard import create_app

pytestmark = pytest.mark.redis


def status(shop: Engine, job_id: str) -> JobStatus | None:
    info = shop.get_job(job_id)
    return None if info is None else info.status


def failed(shop: Engine, *args: Any, **kwargs: Any) -> str:
    job = shop.schedule("shop:charge", *args, **kwargs)
    wait_for(lambda: status(shop, job.job_id) is JobStatus.FAILED, message="the job to fail")
    return job.job_id


def watch(page: Any) -> tuple[list[str], list[str]]:
    """The URLs a page requests, and its console errors (a CSP violation is one)."""
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return requests, errors


def test_each_page_opens_with_live_workers_and_loads_nothing_from_elsewhere(
    shop: Engine, served: Served, page: Any
) -> None:
    requests, errors = watch(page)
    failed(shop, 1)
    slow = shop.schedule("shop:render", 1)
    wait_for(lambda: any(w.running for w in shop.status().workers), message="a heartbeat")

    page.goto(served.url + "/")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator('tr[data-queue="billing"]')).to_be_visible()
    expect(page.locator("svg#throughput g.minute")).to_have_count(60)
    expect(page.locator("svg#throughput")).to_have_attribute("role", "img")
    page.get_by_text("The figures, minute by minute").click()
    expect(page.locator("#throughput-figures table tbody tr")).to_have_count(1)

    page.locator("nav.tabs").get_by_role("link", name="Workers").click()
    expect(page.locator("#workers tbody tr")).to_have_count(1)
    running = page.locator(f'li[data-running="{slow.job_id}"]')
    expect(running).to_contain_text("shop:render")
    running.get_by_role("link").click()
    expect(page.locator("#job-status")).to_have_text("running")

    page.locator("nav.tabs").get_by_role("link", name="Jobs").click()
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    for state, rows in (("ready", 0), ("delayed", 0), ("running", 1), ("finished", 0)):
        page.locator("nav.states").get_by_role("link", name=re.compile(f"^{state}")).click()
        expect(page.locator("nav.states a.active")).to_contain_text(state)
        expect(page.locator("#jobs tbody tr")).to_have_count(rows)
    RELEASE_SLOW.set()
    wait_for(lambda: status(shop, slow.job_id) is JobStatus.SUCCEEDED, message="the slow job")
    page.reload()
    expect(page.locator(f'tr[data-job="{slow.job_id}"]')).to_contain_text("succeeded")

    page.locator("nav.tabs").get_by_role("link", name="Periodic tasks").click()
    row = page.locator('tr[data-task="shop:nightly_report"]')
    expect(row).to_contain_text("1 h")
    expect(row.locator(".declarer")).to_have_count(1)
    page.locator("nav.tabs").get_by_role("link", name="Concurrency limits").click()
    expect(page.locator('tr[data-task="shop:export"] td').nth(2)).to_have_text("3")

    assert errors == []
    assert requests and all(url.startswith(served.url + "/") for url in requests), requests


def test_retry_clicked_on_a_failed_job_runs_it_again(
    shop: Engine, served: Served, page: Any
) -> None:
    job_id = failed(shop, 42)
    page.goto(served.url + "/jobs?state=failed")
    row = page.locator(f'tr[data-job="{job_id}"]')
    expect(row).to_contain_text("RuntimeError: card declined for order 42")
    FLAKY_ALLOWED.set()
    row.get_by_role("button", name="Retry").click()
    expect(page.locator(".notice")).to_have_text(f"Job {job_id} is queued again.")
    wait_for(lambda: status(shop, job_id) is JobStatus.SUCCEEDED, message="the retried job")
    page.goto(f"{served.url}/jobs/{job_id}")
    expect(page.locator("#job-status")).to_have_text("succeeded")


def test_the_job_page_shows_the_traceback_of_a_failed_job(
    shop: Engine, served: Served, page: Any
) -> None:
    job_id = failed(shop, 5)
    page.goto(f"{served.url}/jobs/{job_id}")
    traceback = page.locator("#job-traceback")
    expect(traceback).to_contain_text("Traceback (most recent call last):")
    expect(traceback).to_contain_text("RuntimeError: card declined for order 5")
    expect(traceback).to_contain_text("dashboard_app.py")


def test_cancel_clicked_on_a_waiting_job_removes_it(
    shop: Engine, served: Served, page: Any
) -> None:
    job = shop.schedule_in("shop:send_invoice", timedelta(hours=1), 5)
    page.goto(served.url + "/")
    page.get_by_role("searchbox", name="Job id").fill(job.job_id)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#job-status")).to_have_text("waiting")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".notice")).to_have_text(f"Job {job.job_id} is cancelled: it will not run.")
    expect(page.locator("#job-status")).to_have_text("cancelled")
    assert status(shop, job.job_id) is JobStatus.CANCELLED


def test_run_now_clicked_on_a_delayed_job_runs_it(shop: Engine, served: Served, page: Any) -> None:
    job = shop.schedule_in("shop:send_invoice", timedelta(hours=1), 6)
    page.goto(served.url + "/jobs?state=delayed")
    row = page.locator(f'tr[data-job="{job.job_id}"]')
    expect(row).to_contain_text("in 59 min")
    row.get_by_role("button", name="Run now").click()
    expect(page.locator(".notice")).to_have_text(
        f"Job {job.job_id} is ready: it runs next in its queue."
    )
    wait_for(lambda: status(shop, job.job_id) is JobStatus.SUCCEEDED, message="the job to run")
    expect(page.locator("#jobs tbody tr")).to_have_count(0)  # the live part follows


def test_retry_all_of_one_task_leaves_the_other_tasks_failed(
    shop: Engine, served: Served, page: Any
) -> None:
    charges = [failed(shop, n) for n in range(2)]
    refund = shop.schedule("shop:refund", 9)
    wait_for(lambda: status(shop, refund.job_id) is JobStatus.FAILED, message="the refund")
    page.goto(served.url + "/jobs?state=failed")
    page.get_by_label("Task").fill("shop:charge")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#jobs tbody tr")).to_have_count(2)
    FLAKY_ALLOWED.set()
    page.get_by_role("button", name="Retry all failed of shop:charge in billing").click()
    expect(page.locator(".notice")).to_have_text("2 failed jobs of task shop:charge queued again.")
    for job_id in charges:
        wait_for(lambda job_id=job_id: status(shop, job_id) is JobStatus.SUCCEEDED)
    assert status(shop, refund.job_id) is JobStatus.FAILED
    page.get_by_label("Task").fill("")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#jobs tbody tr")).to_have_count(1)


def test_purge_needs_the_box_ticked_then_empties_the_failed_store(
    shop: Engine, served: Served, page: Any
) -> None:
    failed(shop, 1)
    failed(shop, 2)
    page.goto(served.url + "/jobs?state=failed&queue=billing")
    page.get_by_role("button", name="Purge all failed in billing").click()
    expect(page.locator(".notice")).to_have_count(0)  # the browser refused the form
    assert sum(q.failed for q in shop.status().queues) == 2
    page.get_by_label("delete them for good").check()
    page.get_by_role("button", name="Purge all failed in billing").click()
    expect(page.locator(".notice")).to_have_text("2 failed jobs deleted.")
    expect(page.locator("main")).to_contain_text("No failed job in billing")


def test_html_in_arguments_and_errors_renders_as_text(
    shop: Engine, served: Served, page: Any
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    script = "<script>window.__xss = 1</script>"
    attribute = '"><img src=x onerror="window.__xss = 2">'
    job_id = failed(shop, 3, note=script + attribute)
    page.goto(f"{served.url}/jobs/{job_id}")
    expect(page.locator("#job-kwargs")).to_contain_text(script)
    expect(page.locator("#job-kwargs")).to_contain_text("onerror=")
    page.goto(served.url + "/jobs?state=failed")
    expect(page.locator(f'tr[data-job="{job_id}"]')).to_be_visible()
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img").count() == 0
    assert dialogs == []


def test_the_live_parts_refresh_while_visible_and_stop_when_the_tab_is_hidden(
    shop: Engine, served: Served, page: Any
) -> None:
    for n in range(4):  # every worker thread busy, so more jobs stay ready
        shop.schedule("shop:render", n)
    wait_for(lambda: shop.status().queues and sum(q.running for q in shop.status().queues) == 4)
    page.goto(served.url + "/")
    ready = page.locator('tr[data-queue="billing"] td').nth(1)
    expect(ready).to_have_text("0")
    expect(page.locator("[data-live-status]")).to_be_visible()
    page.get_by_text("The figures, minute by minute").click()
    for n in range(3):
        shop.schedule("shop:render", 10 + n)
    expect(ready).to_have_text("3")  # no reload: the live part was replaced
    expect(page.locator("#throughput-figures")).to_have_attribute("open", "")  # kept open

    loads: list[str] = []
    page.on("request", lambda request: loads.append(request.url))
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(page.locator("[data-live-status]")).to_be_hidden()
    loads.clear()
    page.wait_for_timeout(2000)  # four refresh periods: a live page would have loaded
    assert loads == []
    with page.expect_request(served.url + "/"):
        page.evaluate(
            "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
            "document.dispatchEvent(new Event('visibilitychange'))"
        )
    RELEASE_SLOW.set()
    expect(ready).to_have_text("0")
    processed = page.locator('tr[data-queue="billing"] td').nth(7)
    expect(processed).to_have_text("7")  # the chart's counts refresh too


def test_the_workers_page_follows_what_the_threads_run(
    shop: Engine, served: Served, page: Any
) -> None:
    page.goto(served.url + "/workers")
    expect(page.locator("#workers tbody tr")).to_have_count(1)
    expect(page.locator("ul.running li")).to_have_count(0)
    job = shop.schedule("shop:render", 1)
    item = page.locator(f'li[data-running="{job.job_id}"]')
    expect(item).to_contain_text("shop:render")  # at the next heartbeat, without a reload
    expect(item).to_contain_text(re.compile(r"for \d+ (ms|s)"))
    RELEASE_SLOW.set()
    expect(item).to_have_count(0)


def test_times_are_shown_in_the_browser_s_time_zone(
    shop: Engine, served: Served, page: Any
) -> None:
    job_id = failed(shop, 8)
    page.goto(f"{served.url}/jobs/{job_id}")
    expect(page.locator("footer [data-zone]")).to_have_text("Europe/Paris")
    stamp = page.locator("#job-fields time").first
    expect(stamp).to_have_attribute("title", re.compile(r" UTC$"))
    assert "UTC" not in stamp.inner_text()
    page.goto(served.url + "/")
    minutes = page.locator("svg#throughput title[data-minute]").all_text_contents()
    assert len(minutes) == 60 and not any("UTC" in title for title in minutes)
    busy = [title for title in minutes if "1 processed" in title]
    assert len(busy) == 1 and re.fullmatch(
        r"\d\d:\d\d( [AP]M)?: 1 processed, 1 failed, 0 retried", busy[0]
    )


def test_a_periodic_task_is_paused_and_resumed(shop: Engine, served: Served, page: Any) -> None:
    wait_for(lambda: shop.status().periodic, message="the workers to schedule the periodic task")
    page.goto(served.url + "/periodic")
    row = page.locator('tr[data-task="shop:nightly_report"]')
    row.get_by_role("button", name="Pause").click()
    expect(page.locator(".notice")).to_contain_text(
        "shop:nightly_report of queue billing is paused"
    )
    expect(row).to_have_attribute("data-state", "paused")
    assert [(p.task, p.paused, p.next_run) for p in shop.status().periodic] == [
        ("shop:nightly_report", True, None)
    ]
    row.get_by_role("button", name="Resume").click()
    expect(page.locator(".notice")).to_contain_text("is resumed")
    expect(row).to_have_attribute("data-state", "scheduled")  # at the workers' next heartbeat


def test_a_queue_is_paused_and_resumed_from_the_overview(
    shop: Engine, served: Served, page: Any
) -> None:
    page.goto(served.url + "/")
    row = page.locator('tr[data-queue="billing"]')
    expect(row).to_have_attribute("data-state", "running")
    row.get_by_role("button", name="Pause").click()
    expect(page.locator(".notice")).to_contain_text("Queue billing is paused")
    expect(row).to_have_attribute("data-state", "paused")
    assert [q.paused for q in shop.status("billing").queues] == [True]
    row.get_by_role("button", name="Resume").click()
    expect(page.locator(".notice")).to_contain_text("Queue billing is running again")
    expect(row).to_have_attribute("data-state", "running")
    assert [q.paused for q in shop.status("billing").queues] == [False]


def test_a_limit_override_is_set_and_cleared_from_the_form(
    shop: Engine, served: Served, page: Any
) -> None:
    page.goto(served.url + "/limits")
    limit = page.locator('tr[data-task="shop:export"] td').nth(2)
    expect(limit).to_have_text("3")
    page.get_by_label("Task").fill("shop:export")
    page.get_by_label("Queue").select_option("billing")
    page.get_by_label("At most").fill("1")
    page.get_by_role("button", name="Set override").click()
    expect(page.locator(".notice")).to_have_text(
        "Task shop:export of queue billing may now run 1 jobs at once."
    )
    expect(limit).to_have_text("1")
    page.locator('tr[data-task="shop:export"]').get_by_role("button", name="Clear override").click()
    expect(limit).to_have_text("3")


def test_a_standalone_dashboard_pauses_and_limits_tasks_it_does_not_have(
    shop: Engine, page: Any
) -> None:
    wait_for(lambda: shop.status().periodic, message="the workers to schedule the periodic task")
    url = shop.broker.client.connection_pool.connection_kwargs
    standalone = Engine(
        RedisBroker.from_url(f"redis://{url['host']}:{url['port']}/0"), namespace=shop.namespace
    )
    serving = serve(create_app(standalone, refresh_seconds=0.5))
    served = next(serving)
    try:
        page.goto(served.url + "/periodic")
        row = page.locator('tr[data-task="shop:nightly_report"]')
        row.get_by_role("button", name="Pause").click()
        expect(row).to_have_attribute("data-state", "paused")
        row.get_by_role("button", name="Resume").click()
        expect(row).to_have_attribute("data-state", "scheduled")
        page.goto(served.url + "/limits")
        page.get_by_label("Task").fill("shop:send_invoice")
        page.get_by_label("At most").fill("4")
        page.get_by_role("button", name="Set override").click()
        row = page.locator('tr[data-task="shop:send_invoice"]')
        expect(row.locator("td").nth(2)).to_have_text("4")
        expect(row.locator("td").nth(3)).to_have_text("-")  # no limit in its code
        row.get_by_role("button", name="Clear override").click()
        expect(row).to_have_count(0)
    finally:
        page.goto("about:blank")  # nothing in flight when the server closes
        serving.close()
        standalone.broker.close()


def test_html_in_task_names_tracebacks_and_worker_hosts_renders_as_text(
    redis_server: Any, page: Any, monkeypatch: Any
) -> None:
    import threading
    import uuid

    from spinach import Tasks

    script = "<script>window.__xss = 1</script>"
    task_name = '<img src=x onerror="window.__xss = 2">'
    host = '<svg onload="window.__xss = 3">'
    monkeypatch.setattr("socket.gethostname", lambda: host)
    release = threading.Event()
    tasks = Tasks()

    @tasks.task(name=task_name, queue="hostile", max_retries=0)
    def hostile(block: bool) -> None:
        if block:
            release.wait(30)
        raise RuntimeError(script)

    @tasks.task(name=task_name + "-hourly", queue="hostile", periodicity=timedelta(hours=1))
    def hourly() -> None:
        pass

    spin = Engine(RedisBroker.from_url(redis_server.url), namespace=f"xss-{uuid.uuid4().hex[:8]}")
    spin.attach_tasks(tasks)
    spin.start_workers(number=2, queue="hostile", block=False, lease_seconds=3)
    serving = serve(create_app(spin, refresh_seconds=0))
    served = next(serving)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        done = spin.schedule(task_name, False)
        running = spin.schedule(task_name, True)
        spin.schedule_in(task_name, timedelta(hours=1), False)
        spin.set_concurrency_limit(task_name, 5)
        wait_for(lambda: status(spin, done.job_id) is JobStatus.FAILED, message="the failure")
        wait_for(lambda: any(w.running for w in spin.status().workers), message="a heartbeat")
        paths = ["/", "/workers", "/periodic", "/limits", f"/jobs/{done.job_id}",
                 f"/jobs/{running.job_id}", f"/jobs?state=failed&task={task_name}"]  # fmt: skip
        paths += [f"/jobs?state={state}" for state in ("delayed", "running", "failed")]
        for path in paths:
            page.goto(served.url + path)
            if path != "/":
                expect(page.locator("main")).to_contain_text(task_name)  # shown, as text
            assert page.evaluate("window.__xss") is None, path
            assert page.locator("main img, main svg[onload], main script").count() == 0, path
        page.goto(f"{served.url}/jobs/{done.job_id}")
        expect(page.locator("#job-traceback")).to_contain_text("RuntimeError: " + script)
        page.goto(served.url + "/workers")
        expect(page.locator("#workers tbody td").first).to_have_text(host)
        page.goto(served.url + "/periodic")
        expect(page.locator(".declarer").first).to_contain_text(host)
        assert dialogs == []
    finally:
        page.goto("about:blank")
        serving.close()
        release.set()
        spin.stop_workers()
        spin.broker.close()
