"""Every page renders what the Engine API says, and explains empty states."""

import re
from datetime import timedelta

from dashboard_helpers import RELEASE, Browser, run_until_empty, standalone, wait_for

from spinach import Engine, MemoryBroker, Tasks
from spinach.job import JobStatus
from spinach_dashboard import create_app


def text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def test_every_page_of_an_empty_namespace_answers_and_explains_why_it_is_empty() -> None:
    browser = Browser(create_app(Engine(MemoryBroker(), namespace="empty")))
    expected = {
        "/": "No queue has been used",
        "/workers": "No live worker",
        "/jobs": "No failed job",
        "/jobs?state=ready": "No job is ready",
        "/jobs?state=delayed": "No job is delayed",
        "/jobs?state=running": "No job is running",
        "/jobs?state=finished": "No finished job is on record",
        "/periodic": "No periodic task",
        "/limits": "No concurrency limit is in force",
    }
    for path, explanation in expected.items():
        response = browser.get(path)
        assert response.status_code == 200, path
        assert response.content_type == "text/html; charset=utf-8"
        assert explanation in text(response), path
    assert "No job finished in the last 60 minutes" in text(browser.get("/"))
    assert "none has been used in this namespace yet" in text(browser.get("/limits"))


def test_the_overview_counts_each_queue_and_formats_numbers(spin: Engine, browser: Browser) -> None:
    for n in range(1200):
        spin.schedule("shop:later", n)
    spin.schedule_in("shop:later", timedelta(hours=1), 0)
    page = text(browser.get("/"))
    row = re.search(r'<tr data-queue="spinach"[^>]*>(.*?)</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r'<td class="n[^"]*">(?:<a [^>]*>)?(.*?)(?:</a>)?</td>', row.group(1), re.S)
    assert cells[:4] == ["1,200", "1", "0", "0"]
    assert 'href="/jobs?state=delayed&amp;queue=spinach">1</a>' in row.group(1)
    assert "workers alive" in page


def test_the_overview_charts_jobs_processed_and_failed_per_minute(
    spin: Engine, browser: Browser
) -> None:
    for n in range(3):
        spin.schedule("shop:fail", f"x{n}")
    spin.schedule("shop:later", 1)
    run_until_empty(spin)
    page = text(browser.get("/"))
    chart = re.search(r'<svg id="throughput".*?</svg>', page, re.S)
    assert chart is not None
    assert chart.group(0).count('<g class="minute">') == 60
    assert "4 processed, 3 of them failed and 0 retried" in chart.group(0)
    [busy] = re.findall(r"<title data-minute=[^>]*>([^<]*)</title>", chart.group(0))[-1:]
    assert busy.endswith(": 4 processed, 3 failed, 0 retried")
    assert chart.group(0).count('class="failed"') == 1  # one minute had failures
    figures = re.search(r'<details id="throughput-figures".*?</details>', page, re.S)
    assert figures is not None
    assert re.search(r'<td class="n">4</td><td class="n">3</td><td class="n">0</td>', figures[0])
    row = re.search(r'<tr data-queue="spinach"[^>]*>(.*?)</tr>', page, re.S)
    assert row is not None and 'aria-label="Queue spinach: 4 processed, 3 failed' in row[1]


def test_the_job_page_shows_arguments_attempts_times_error_and_traceback(
    spin: Engine, browser: Browser
) -> None:
    job = spin.schedule("shop:fail", "order-7", note="gift wrap")
    run_until_empty(spin)
    page = text(browser.get(f"/jobs/{job.job_id}"))
    assert 'id="job-status">failed<' in page
    assert "shop:fail" in page
    assert "ValueError: cannot process order-7" in page
    traceback = re.search(r'<pre class="traceback" id="job-traceback">(.*?)</pre>', page, re.S)
    assert traceback is not None
    assert traceback[1].startswith("Traceback (most recent call last):")
    assert "raise ValueError(f&#34;cannot process {text}&#34;)" in traceback[1]
    assert "&#34;order-7&#34;" in page  # the arguments as JSON text
    assert "&#34;note&#34;: &#34;gift wrap&#34;" in page
    assert '<time datetime="' in page


def test_a_delayed_job_s_page_offers_to_run_it_now_or_cancel_it(
    spin: Engine, browser: Browser
) -> None:
    job = spin.schedule_in("shop:later", timedelta(hours=1), 1)
    response = browser.get(f"/lookup?id=%20{job.job_id}%20")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/jobs/{job.job_id}"
    page = text(browser.get(f"/jobs/{job.job_id}"))
    assert 'id="job-status">waiting<' in page
    assert ">Run now</button>" in page and ">Cancel</button>" in page
    assert 'href="/jobs?state=delayed&amp;queue=spinach">spinach</a>' in page


def test_the_workers_page_says_what_each_thread_runs_and_the_version(spin: Engine) -> None:
    import spinach_worker

    job = spin.schedule("shop:block", 1)
    spin.start_workers(number=2, block=False, lease_seconds=0.6)
    browser = Browser(create_app(spin))

    def reported() -> str:
        page = text(browser.get("/workers"))
        return page if f'data-running="{job.job_id}"' in page else ""

    page = wait_for(reported, message="the worker's heartbeat to report the running job")
    row = re.search(r"<tr data-worker=.*?</tr>", page, re.S)
    assert row is not None
    assert f"<td>{spinach_worker.__version__}</td>" in row[0]
    assert '<td class="n">1 / 2</td>' in row[0]
    running = re.search(rf'<li data-running="{job.job_id}">(.*?)</li>', row[0], re.S)
    assert running is not None
    assert f'href="/jobs/{job.job_id}"' in running[1]
    assert '<span class="task">shop:block</span>' in running[1]
    assert re.search(r'<span class="muted">for \d+ (ms|s)</span>', running[1])
    job_page = text(browser.get(f"/jobs/{job.job_id}"))
    assert 'id="job-status">running<' in job_page and "running for" in job_page
    RELEASE.set()


def test_the_periodic_page_shows_period_next_run_and_who_declares_it() -> None:
    tasks = Tasks()

    @tasks.task(name="report:hourly", queue="reports", periodicity=timedelta(hours=1))
    def hourly() -> None:
        pass

    broker = MemoryBroker()
    spin = Engine(broker, namespace="periodic")
    spin.attach_tasks(tasks)
    browser = Browser(create_app(spin))
    before = text(browser.get("/periodic"))
    assert "not scheduled yet: no worker has declared it" in before  # attached, no worker yet
    spin.start_workers(number=1, queue="reports", block=False, lease_seconds=0.6)
    try:
        wait_for(lambda: spin.status().periodic, message="the worker to register the task")
        page = text(browser.get("/periodic"))
        row = re.search(r'<tr data-task="report:hourly".*?</tr>', page, re.S)
        assert row is not None
        assert 'data-state="scheduled"' in row[0]
        assert "<td>1 h</td>" in row[0]
        assert re.search(r"<time datetime=[^>]+>", row[0])
        [worker] = spin.status().workers
        assert (
            f'title="worker {worker.id}">{worker.host} <span class="muted">pid {worker.pid}'
            in (row[0])
        )
        assert ">Pause</button>" in row[0]
    finally:
        spin.stop_workers()


def test_a_paused_periodic_task_is_listed_with_its_period_and_a_resume_button(
    spin: Engine,
) -> None:
    tasks = Tasks()

    @tasks.task(name="report:daily", periodicity=timedelta(days=1))
    def daily() -> None:
        pass

    spin.attach_tasks(tasks)
    spin.remove_periodic_task("report:daily")
    page = text(Browser(create_app(spin)).get("/periodic"))
    row = re.search(r'<tr data-task="report:daily".*?</tr>', page, re.S)
    assert row is not None
    assert 'data-state="paused"' in row[0] and "<td>1 d</td>" in row[0]
    assert ">Resume</button>" in row[0]


def test_the_limits_page_shows_the_code_limit_and_the_override(spin: Engine) -> None:
    browser = Browser(create_app(spin))
    before = text(browser.get("/limits"))
    assert '<tr data-task="shop:limited" data-queue="spinach">' in before  # declared in code
    assert '<option value="shop:limited"></option>' in before
    spin.start_workers(number=1, block=False, lease_seconds=0.6)  # declares the code limit
    wait_for(lambda: spin.status().limits, message="the worker to declare the limit")
    spin.set_concurrency_limit("shop:limited", 5)
    page = text(browser.get("/limits"))
    row = re.search(r'<tr data-task="shop:limited".*?</tr>', page, re.S)
    assert row is not None
    assert re.findall(r'<td class="n[^"]*">([^<]*)</td>', row[0])[:3] == ["5", "2", "5"]
    assert ">Clear override</button>" in row[0]


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


def test_a_standalone_dashboard_without_tasks_shows_the_same_namespace(spin: Engine) -> None:
    job = spin.schedule("shop:fail", "x")
    run_until_empty(spin)
    other = standalone(spin)
    assert other.tasks.names == []
    page = text(Browser(create_app(other)).get("/jobs?state=failed"))
    assert f'<tr data-job="{job.job_id}">' in page
