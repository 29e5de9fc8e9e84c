"""Every page renders what the Engine API says, explains empty states, and escapes Redis data."""

import re
from datetime import timedelta
from typing import Any

from dashboard_helpers import Browser, run_until_empty

from spinach import Engine, MemoryBroker
from spinach.job import JobStatus
from spinach_dashboard import create_app

XSS_SCRIPT = "<script>window.__xss = 1</script>"
XSS_ATTRIBUTE = '"><img src=x onerror=alert(1)>'


def text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def test_every_page_of_an_empty_namespace_answers_and_explains_why_it_is_empty() -> None:
    browser = Browser(create_app(Engine(MemoryBroker(), namespace="empty")))
    expected = {
        "/": "No queue has been used",
        "/workers": "No live worker",
        "/jobs": "No failed job",
        "/jobs?state=ready": "Listing them needs the next version",
        "/periodic": "No periodic task",
        "/limits": "No concurrency limit is in force",
        "/jobs?state=running": "Listing them needs the next version",
    }
    for path, explanation in expected.items():
        response = browser.get(path)
        assert response.status_code == 200, path
        assert response.content_type == "text/html; charset=utf-8"
        assert explanation in text(response), path


def test_the_overview_counts_each_queue_and_formats_numbers(spin: Engine, browser: Browser) -> None:
    for n in range(1200):
        spin.schedule("shop:later", n)
    spin.schedule_in("shop:later", timedelta(hours=1), 0)
    page = text(browser.get("/"))
    row = re.search(r'<tr data-queue="spinach">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r'<td class="n[^"]*">(.*?)</td>', row.group(1), re.S)
    assert cells[:4] == ["1,200", "1", "0", '<a href="/jobs?state=failed&amp;queue=spinach">0</a>']
    assert "workers alive" in page
    assert "not recorded by this version" in page  # throughput: said, not faked


def test_failed_jobs_are_listed_newest_first_with_their_errors(
    spin: Engine, browser: Browser
) -> None:
    jobs = [spin.schedule("shop:fail", f"order-{n}") for n in range(3)]
    run_until_empty(spin)
    page = text(browser.get("/jobs?state=failed"))
    assert page.count("<tr data-job=") == 3
    assert "ValueError: cannot process order-" in page
    assert all(job.job_id in page for job in jobs)
    assert "Retry all 3 failed" in page


def test_the_job_page_shows_arguments_attempts_times_and_error(
    spin: Engine, browser: Browser
) -> None:
    job = spin.schedule("shop:fail", "order-7", note="gift wrap")
    run_until_empty(spin)
    page = text(browser.get(f"/jobs/{job.job_id}"))
    assert 'id="job-status">failed<' in page
    assert "shop:fail" in page
    assert "ValueError: cannot process order-7" in page
    assert "&#34;order-7&#34;" in page  # the arguments as JSON text
    assert "&#34;note&#34;: &#34;gift wrap&#34;" in page
    assert '<time datetime="' in page
    assert "Tracebacks are not kept by this version" in page


def test_arguments_and_errors_holding_html_render_as_text(spin: Engine, browser: Browser) -> None:
    job = spin.schedule("shop:fail", XSS_SCRIPT, note=XSS_ATTRIBUTE)
    run_until_empty(spin)
    for path in (f"/jobs/{job.job_id}", "/jobs?state=failed"):
        page = text(browser.get(path))
        assert "<script>window.__xss" not in page, path
        assert "<img src=x" not in page, path
        assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page, path
    page = text(browser.get(f"/jobs/{job.job_id}"))
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_task_filter_lists_only_that_task(spin: Engine, browser: Browser) -> None:
    for n in range(4):
        spin.schedule("shop:fail", f"a{n}")
        spin.schedule("shop:other", n)
    run_until_empty(spin)
    page = text(browser.get("/jobs?state=failed&task=shop:other"))
    assert page.count("<tr data-job=") == 4
    assert "cannot process" not in page
    assert "one task at once is not offered" in page  # bulk actions by task: said, not faked


def test_pages_of_failed_jobs_continue_where_the_last_one_stopped(
    spin: Engine, browser: Browser
) -> None:
    for n in range(60):
        spin.schedule("shop:other", n)
    run_until_empty(spin)
    first = text(browser.get("/jobs?state=failed"))
    assert first.count("<tr data-job=") == 50
    assert 'rel="next" href="/jobs?state=failed&amp;offset=50"' in first
    second = text(browser.get("/jobs?state=failed&offset=50"))
    assert second.count("<tr data-job=") == 10
    assert 'rel="next"' not in second
    first_ids = set(re.findall(r'data-job="([^"]+)"', first))
    second_ids = set(re.findall(r'data-job="([^"]+)"', second))
    assert len(first_ids | second_ids) == 60
    beyond = text(browser.get("/jobs?state=failed&offset=500"))
    assert "Nothing here past job 500" in beyond


def test_a_job_is_looked_up_by_id(spin: Engine, browser: Browser) -> None:
    job = spin.schedule_in("shop:later", timedelta(hours=1), 1)
    response = browser.get(f"/lookup?id=%20{job.job_id}%20")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/jobs/{job.job_id}"
    page = text(browser.get(f"/jobs/{job.job_id}"))
    assert 'id="job-status">waiting<' in page
    assert ">Cancel</button>" in page


def test_the_periodic_and_limits_pages_offer_the_attached_tasks(browser: Browser) -> None:
    limits = text(browser.get("/limits"))
    assert '<tr data-task="shop:limited">' in limits  # declared in code, not yet in force
    assert "<option>shop:limited</option>" in limits


def test_times_are_marked_for_the_browser_to_show_in_its_time_zone(
    spin: Engine, browser: Browser
) -> None:
    job = spin.schedule("shop:fail", "x")
    run_until_empty(spin)
    page = text(browser.get(f"/jobs/{job.job_id}"))
    stamps = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert stamps
    assert all(iso.endswith("Z") and shown.endswith(" UTC") for iso, shown in stamps)
    info = spin.get_job(job.job_id)
    assert info is not None and info.status is JobStatus.FAILED


def test_the_failed_jobs_of_every_queue_are_paged_down_to_a_bound(
    spin: Engine, browser: Browser, monkeypatch: Any
) -> None:
    from spinach_dashboard import data

    monkeypatch.setattr(data, "MAX_MERGED_OFFSET", 60)
    for n in range(80):
        spin.schedule("shop:other", n)
    run_until_empty(spin)
    page = text(browser.get("/jobs?state=failed&offset=50"))
    assert page.count("<tr data-job=") == 10
    assert 'rel="next"' not in page
    assert "Choose a queue to see older failed jobs." in page
    within = text(browser.get("/jobs?state=failed&queue=spinach&offset=50"))
    assert 'rel="next"' not in within and "Choose a queue" not in within
    assert within.count("<tr data-job=") == 30
    assert browser.get("/jobs?state=failed&offset=60").status_code == 400
