"""The dashboard in headless Chromium, against a real redis-server with live workers.

Each test opens pages as an operator would, clicks the buttons, and sees the state change.
Playwright's expectations wait (with a deadline) for what the page should show.
"""

import re
from datetime import timedelta
from typing import Any

import pytest
from dashboard.conftest import Served
from dashboard.dashboard_app import FLAKY_ALLOWED, RELEASE_SLOW
from helpers import wait_for
from playwright.sync_api import expect

from spinach import Engine
from spinach.job import JobStatus

pytestmark = pytest.mark.redis


def status(shop: Engine, job_id: str) -> JobStatus | None:
    info = shop.get_job(job_id)
    return None if info is None else info.status


def failed(shop: Engine, *args: Any, **kwargs: Any) -> str:
    job = shop.schedule("shop:charge", *args, **kwargs)
    wait_for(lambda: status(shop, job.job_id) is JobStatus.FAILED, message="the job to fail")
    return job.job_id


def test_each_page_opens_with_live_workers_and_loads_nothing_from_elsewhere(
    shop: Engine, served: Served, page: Any
) -> None:
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    failed(shop, 1)
    wait_for(lambda: shop.status().workers, message="the workers' first heartbeat")

    page.goto(served.url + "/")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator('tr[data-queue="billing"]')).to_be_visible()
    page.locator("nav.tabs").get_by_role("link", name="Workers").click()
    expect(page.locator("#workers tbody tr")).to_have_count(1)
    expect(page.locator("#workers tbody tr td").nth(2)).to_have_text("billing")
    page.locator("nav.tabs").get_by_role("link", name="Jobs").click()
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    page.locator("nav.states").get_by_role("link", name=re.compile("^ready")).click()
    expect(page.locator("main")).to_contain_text("Listing them needs the next version")
    page.locator("nav.tabs").get_by_role("link", name="Periodic tasks").click()
    expect(page.locator('tr[data-task="shop:nightly_report"]')).to_be_visible()
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
    for n in range(3):
        shop.schedule("shop:render", 10 + n)
    expect(ready).to_have_text("3")  # no reload: the live part was replaced

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


def test_times_are_shown_in_the_browser_s_time_zone(
    shop: Engine, served: Served, page: Any
) -> None:
    job_id = failed(shop, 8)
    page.goto(f"{served.url}/jobs/{job_id}")
    expect(page.locator("footer [data-zone]")).to_have_text("Europe/Paris")
    stamp = page.locator("#job-fields time").first
    expect(stamp).to_have_attribute("title", re.compile(r" UTC$"))
    assert "UTC" not in stamp.inner_text()


def test_purge_needs_the_box_ticked_then_empties_the_failed_store(
    shop: Engine, served: Served, page: Any
) -> None:
    failed(shop, 1)
    failed(shop, 2)
    page.goto(served.url + "/jobs?state=failed&queue=billing")
    page.get_by_role("button", name="Purge all failed of billing").click()
    expect(page.locator(".notice")).to_have_count(0)  # the browser refused the form
    assert sum(q.failed for q in shop.status().queues) == 2
    page.get_by_label("delete them for good").check()
    page.get_by_role("button", name="Purge all failed of billing").click()
    expect(page.locator(".notice")).to_have_text("2 failed jobs deleted.")
    expect(page.locator("main")).to_contain_text("No failed job in queue billing")


def test_a_periodic_task_is_paused_and_resumed(shop: Engine, served: Served, page: Any) -> None:
    wait_for(lambda: shop.status().periodic, message="the workers to schedule the periodic task")
    page.goto(served.url + "/periodic")
    row = page.locator('tr[data-task="shop:nightly_report"]')
    row.get_by_role("button", name="Pause").click()
    expect(page.locator(".notice")).to_contain_text("shop:nightly_report is paused")
    expect(row).to_contain_text("not scheduled")
    assert [(p.task, p.paused, p.next_run) for p in shop.status().periodic] == [
        ("shop:nightly_report", True, None)
    ]
    row.get_by_role("button", name="Resume").click()
    expect(page.locator(".notice")).to_contain_text("is resumed")


def test_a_limit_override_is_set_and_cleared_from_the_form(
    shop: Engine, served: Served, page: Any
) -> None:
    page.goto(served.url + "/limits")
    limit = page.locator('tr[data-task="shop:export"] td').nth(2)
    expect(limit).to_have_text("3")
    page.get_by_label("Task").select_option("shop:export")
    page.get_by_label("At most").fill("1")
    page.get_by_role("button", name="Set override").click()
    expect(page.locator(".notice")).to_have_text("Task shop:export may now run 1 jobs at once.")
    expect(limit).to_have_text("1")
    page.locator('tr[data-task="shop:export"]').get_by_role("button", name="Clear override").click()
    expect(limit).to_have_text("3")
