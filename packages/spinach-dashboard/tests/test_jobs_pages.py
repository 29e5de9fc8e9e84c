"""The Jobs page lists every state in its order, filters by queue and task, and pages."""

import re
from datetime import timedelta
from typing import Any

from dashboard_helpers import RELEASE, Browser, run_until_empty, standalone, wait_for

from spinach import Chain, Engine, Step, Tasks
from spinach_dashboard import create_app


def text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def listed(page: str) -> list[str]:
    return re.findall(r'<tr data-job="([^"]+)">', page)


def test_ready_jobs_are_listed_oldest_first_with_a_cancel_button(
    spin: Engine, browser: Browser
) -> None:
    jobs = [spin.schedule("shop:later", n) for n in range(3)]
    page = text(browser.get("/jobs?state=ready"))
    assert listed(page) == [job.job_id for job in jobs]
    assert page.count(">Cancel</button>") == 3
    assert "3 ready; higher priority first, then oldest first." in page
    assert 'aria-current="page">ready <span class="count">3</span>' in page


def test_delayed_jobs_are_listed_soonest_first_with_run_now(spin: Engine, browser: Browser) -> None:
    late = spin.schedule_in("shop:later", timedelta(hours=2), 1)
    soon = spin.schedule_in("shop:later", timedelta(minutes=5), 2)
    page = text(browser.get("/jobs?state=delayed"))
    assert listed(page) == [soon.job_id, late.job_id]
    assert page.count(">Run now</button>") == 2
    assert "in 4 min" in page or "in 5 min" in page


def test_running_jobs_are_listed_with_their_worker(spin: Engine, browser: Browser) -> None:
    job = spin.schedule("shop:block", 1)
    spin.start_workers(number=2, block=False, lease_seconds=0.6)
    wait_for(lambda: spin.status("spinach").queues[0].running == 1, message="the job to start")
    wait_for(lambda: spin.status().workers, message="the worker's heartbeat")
    page = text(browser.get("/jobs?state=running"))
    assert listed(page) == [job.job_id]
    [worker] = spin.status().workers
    assert f'{worker.host} <span class="muted">pid {worker.pid}</span>' in page
    RELEASE.set()


def test_finished_jobs_are_listed_newest_first_with_their_outcome(
    spin: Engine, browser: Browser
) -> None:
    jobs = [spin.schedule("shop:later", n) for n in range(2)]
    cancelled = spin.schedule_in("shop:later", timedelta(hours=1), 3)
    spin.cancel(cancelled.job_id)
    run_until_empty(spin)
    page = text(browser.get("/jobs?state=finished"))
    assert set(listed(page)) == {job.job_id for job in [*jobs, cancelled]}
    assert listed(page)[0] in {job.job_id for job in jobs}  # finished last, listed first
    assert page.count('<span class="badge status-succeeded">succeeded</span>') == 2
    assert page.count('<span class="badge status-cancelled">cancelled</span>') == 1
    assert re.search(
        r'state=finished[^"]*" class="active"[^>]*>finished <span class="count">3', page
    )


def test_failed_jobs_are_listed_newest_first_with_their_errors(
    spin: Engine, browser: Browser
) -> None:
    jobs = [spin.schedule("shop:fail", f"order-{n}") for n in range(3)]
    run_until_empty(spin)
    page = text(browser.get("/jobs?state=failed"))
    assert sorted(listed(page)) == sorted(job.job_id for job in jobs)
    assert "ValueError: cannot process order-" in page
    assert "Retry all failed</button>" in page


def test_a_task_filter_lists_only_that_task_and_offers_its_bulk_actions(
    spin: Engine, browser: Browser
) -> None:
    for n in range(4):
        spin.schedule("shop:fail", f"a{n}")
        spin.schedule("shop:other", n)
    run_until_empty(spin)
    page = text(browser.get("/jobs?state=failed&task=shop:other"))
    assert len(listed(page)) == 4
    assert "cannot process" not in page
    assert "Retry all failed of shop:other in spinach</button>" in page
    assert "Purge all failed of shop:other in spinach</button>" in page
    assert '<input type="hidden" name="task" value="shop:other">' in page
    assert 'data-live id="jobs-live"' not in page  # a search is not repeated every 5 s
    assert 'data-live id="jobs-live"' in text(browser.get("/jobs?state=failed"))


def test_pages_continue_where_the_last_one_stopped(spin: Engine, browser: Browser) -> None:
    for n in range(60):
        spin.schedule("shop:later", n)
    first = text(browser.get("/jobs?state=ready"))
    assert len(listed(first)) == 50
    assert 'rel="next" href="/jobs?state=ready&amp;offset=50"' in first
    second = text(browser.get("/jobs?state=ready&offset=50"))
    assert len(listed(second)) == 10
    assert 'rel="next"' not in second
    assert 'rel="prev" href="/jobs?state=ready&amp;offset=0"' in second
    assert len(set(listed(first)) | set(listed(second))) == 60
    beyond = text(browser.get("/jobs?state=ready&offset=500"))
    assert "Nothing here past job 500" in beyond


def test_a_task_filter_pages_by_window_and_says_where_to_continue(
    spin: Engine, browser: Browser, monkeypatch: Any
) -> None:
    from spinach import admin

    monkeypatch.setattr(admin, "FILTER_WINDOW", 20)
    for n in range(30):
        spin.schedule("shop:later", n)
    wanted = spin.schedule("shop:limited")
    page = text(browser.get("/jobs?state=ready&queue=spinach&task=shop:limited"))
    assert listed(page) == []
    assert "the next page looks further" in page
    assert (
        'rel="next" href="/jobs?state=ready&amp;queue=spinach&amp;task=shop:limited&amp;offset=20"'
        in page
    )
    following = text(browser.get("/jobs?state=ready&queue=spinach&task=shop:limited&offset=20"))
    assert listed(following) == [wanted.job_id]


def two_queues(spin: Engine, failed: int, bounced: int) -> None:
    for n in range(failed):
        spin.schedule("shop:other", n)
    for n in range(bounced):
        spin.schedule("mail:bounce", f"user{n}@example.com")
    run_until_empty(spin)
    run_until_empty(spin, "emails")


def test_every_queue_at_once_is_merged_in_the_state_s_order(spin: Engine, browser: Browser) -> None:
    two_queues(spin, 3, 2)
    page = text(browser.get("/jobs?state=failed"))
    rows = re.findall(r'<tr data-job="[^"]+">\s*<td[^>]*>.*?</td>\s*<td>([^<]+)</td>', page, re.S)
    assert rows == ["emails", "emails", "spinach", "spinach", "spinach"]  # newest first
    assert "5 failed; newest first." in page
    only = text(browser.get("/jobs?state=failed&queue=emails"))
    assert len(listed(only)) == 2 and "2 failed in emails" in only


def test_every_queue_at_once_is_paged_down_to_a_bound(
    spin: Engine, browser: Browser, monkeypatch: Any
) -> None:
    from spinach_dashboard import listing

    monkeypatch.setattr(listing, "MAX_MERGED_OFFSET", 50)
    two_queues(spin, 110, 1)
    page = text(browser.get("/jobs?state=failed&offset=50"))
    assert len(listed(page)) == 50
    assert 'rel="next"' not in page
    assert "Choose a queue to see the other jobs." in page
    first = text(browser.get("/jobs?state=failed"))
    assert 'rel="next" href="/jobs?state=failed&amp;offset=50"' in first
    within = text(browser.get("/jobs?state=failed&queue=spinach&offset=100"))
    assert 'rel="next"' not in within and "Choose a queue" not in within
    assert len(listed(within)) == 10
    refused = browser.get("/jobs?state=failed&offset=100")
    assert refused.status_code == 400
    assert "choose a queue to see the others" in text(refused)


def test_a_task_filter_over_every_queue_shows_one_page(spin: Engine) -> None:
    two_queues(spin, 2, 2)
    browser = Browser(create_app(standalone(spin)))  # it cannot know the task's queue
    page = text(browser.get("/jobs?state=failed&task=mail:bounce"))
    assert len(listed(page)) == 2
    assert 'rel="next"' not in page
    assert browser.get("/jobs?state=failed&task=mail:bounce&offset=50").status_code == 400


def test_a_filter_on_an_attached_task_looks_in_its_queue(spin: Engine, browser: Browser) -> None:
    two_queues(spin, 2, 2)
    page = text(browser.get("/jobs?state=failed&task=mail:bounce"))
    assert len(listed(page)) == 2
    assert '<option value="emails" selected>emails</option>' in page
    assert "2 failed in emails" in page
    assert browser.get("/jobs?state=failed&task=mail:bounce&offset=50").status_code == 200


def test_jobs_held_back_by_a_concurrency_limit_are_counted_and_listed_on_their_tab(
    spin: Engine, browser: Browser
) -> None:
    tasks = Tasks()

    @tasks.task(name="shop:one_at_a_time", max_retries=1, max_concurrency=1)
    def one_at_a_time(n: int) -> None:
        RELEASE.wait(30)

    spin.attach_tasks(tasks)
    jobs = [spin.schedule("shop:one_at_a_time", n) for n in range(3)]
    spin.start_workers(number=3, block=False, lease_seconds=0.6)

    def waiting() -> int:
        limits = spin.status("spinach").limits
        return sum(limit.waiting for limit in limits if limit.task == "shop:one_at_a_time")

    wait_for(lambda: waiting() == 2, message="two jobs held back by the limit of 1")
    page = text(browser.get("/jobs?state=ready&queue=spinach"))
    assert listed(page) == []
    held = re.search(r'<p class="muted" id="held-back">(.*?)</p>', page, re.S)
    assert held is not None
    assert held[1].startswith("2 more jobs of tasks with a concurrency limit wait")
    assert 'href="/jobs?state=held&amp;queue=spinach"' in held[1]
    tab = text(browser.get("/jobs?state=held&queue=spinach"))
    assert listed(tab) == [job.job_id for job in jobs[1:]]  # the first one runs
    assert 'aria-current="page">held <span class="count">2</span>' in tab
    assert tab.count(">Cancel</button>") == 2
    assert "2 held in spinach; task by task, each oldest first." in tab
    assert listed(text(browser.get("/jobs?state=held"))) == [job.job_id for job in jobs[1:]]
    overview = text(browser.get("/"))
    assert '<a class="muted held" href="/jobs?state=held&amp;queue=spinach"' in overview
    assert "+2 held</a>" in overview
    RELEASE.set()
    wait_for(lambda: waiting() == 0, message="the jobs to run")
    assert 'id="held-back"' not in text(browser.get("/jobs?state=ready&queue=spinach"))
    assert "No job is held back by a concurrency limit in spinach" in text(
        browser.get("/jobs?state=held&queue=spinach")
    )


def test_ready_jobs_are_listed_by_priority_and_a_job_shows_its_own(
    spin: Engine, browser: Browser
) -> None:
    plain = spin.schedule("shop:later", 1)
    urgent = spin.schedule_with("shop:later", (2,), priority=5)
    low = spin.schedule_with("shop:later", (3,), priority=-5)
    page = text(browser.get("/jobs?state=ready"))
    assert listed(page) == [urgent.job_id, plain.job_id, low.job_id]
    job_page = text(browser.get(f"/jobs/{urgent.job_id}"))
    assert '<dt>Priority</dt><dd id="job-priority">5</dd>' in job_page
    assert "job-priority" not in text(browser.get(f"/jobs/{plain.job_id}"))


def test_a_job_page_shows_its_result_and_its_progress(spin: Engine, browser: Browser) -> None:
    done = spin.schedule("shop:total", 7)
    run_until_empty(spin)
    waiting = spin.schedule_in("shop:total", timedelta(hours=1), 8)
    page = text(browser.get(f"/jobs/{done.job_id}"))
    assert re.search(r'<pre id="job-result">\{\s*&#34;total&#34;: 7\s*\}</pre>', page), page
    assert '<progress max="1" value="1.0"></progress> 100% counted' in page
    later = text(browser.get(f"/jobs/{waiting.job_id}"))
    assert "Kept once the job ends." in later and "job-progress" not in later


def test_a_job_page_lists_the_steps_of_its_workflow(spin: Engine, browser: Browser) -> None:
    flow = spin.schedule_workflow(Chain(Step("shop:double", 3), Step("shop:total")))
    first, second = flow.jobs
    page = text(browser.get(f"/jobs/{second.job_id}"))
    steps = re.findall(r'<tr data-step="([^"]+)"', page)
    assert steps == [first.job_id, second.job_id]
    assert "the steps before it in its workflow" in page
    run_until_empty(spin)
    page = text(browser.get(f"/jobs/{first.job_id}"))
    assert page.count('<span class="badge status-succeeded">succeeded</span>') == 2
