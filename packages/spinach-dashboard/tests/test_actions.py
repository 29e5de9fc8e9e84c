"""Each action changes the state it names, then redirects to its page with a notice."""

from datetime import timedelta

from dashboard_helpers import Browser, run_until_empty, standalone, wait_for

from spinach import Engine, Tasks
from spinach.job import JobStatus
from spinach_dashboard import create_app


def status_of(spin: Engine, job_id: str) -> JobStatus:
    info = spin.get_job(job_id)
    assert info is not None
    return info.status


def failed_count(spin: Engine, queue: str = "spinach") -> int:
    return spin.status(queue).queues[0].failed


def test_retrying_a_failed_job_queues_it_again(spin: Engine, browser: Browser) -> None:
    job = spin.schedule("shop:fail", "x")
    run_until_empty(spin)
    back = "/jobs?state=failed&queue=spinach&task=shop:fail"
    response = browser.post(f"/jobs/{job.job_id}/retry", {"next": back})
    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"/jobs?state=failed&queue=spinach&task=shop%3Afail&notice=retried&notice_job={job.job_id}"
    )  # the page's own filters are kept
    assert status_of(spin, job.job_id) is JobStatus.QUEUED
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Job {job.job_id} is queued again." in page
    again = browser.post(f"/jobs/{job.job_id}/retry")
    assert "notice=not-retried" in again.headers["Location"]


def test_cancelling_a_waiting_job_removes_it_for_good(spin: Engine, browser: Browser) -> None:
    job = spin.schedule_in("shop:later", timedelta(hours=1), 1)
    response = browser.post(f"/jobs/{job.job_id}/cancel")
    assert response.headers["Location"] == (
        f"/jobs/{job.job_id}?notice=cancelled&notice_job={job.job_id}"
    )
    assert status_of(spin, job.job_id) is JobStatus.CANCELLED
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "it will not run" in page and 'id="job-status">cancelled<' in page
    twice = browser.post(f"/jobs/{job.job_id}/cancel")
    assert "notice=cancel-finished" in twice.headers["Location"]


def test_run_now_makes_a_delayed_job_ready_at_the_head_of_its_queue(
    spin: Engine, browser: Browser
) -> None:
    first = spin.schedule("shop:later", 1)
    delayed = spin.schedule_in("shop:later", timedelta(hours=1), 2)
    response = browser.post(f"/jobs/{delayed.job_id}/run-now", {"next": "/jobs?state=delayed"})
    assert response.headers["Location"] == (
        f"/jobs?state=delayed&notice=ran-now&notice_job={delayed.job_id}"
    )
    assert status_of(spin, delayed.job_id) is JobStatus.QUEUED
    ready = spin.jobs("ready", "spinach").jobs
    assert [job.id for job in ready] == [delayed.job_id, first.job_id]
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "it runs next in its queue" in page
    again = browser.post(f"/jobs/{delayed.job_id}/run-now")
    assert "notice=not-ran-now" in again.headers["Location"]


def test_retry_all_and_purge_act_on_the_queue_asked(spin: Engine, browser: Browser) -> None:
    for n in range(3):
        spin.schedule("shop:fail", f"x{n}")
    run_until_empty(spin)
    response = browser.post("/failed/retry-all", {"queue": "spinach"})
    assert "notice=retried-all&notice_n=3" in response.headers["Location"]
    assert spin.status("spinach").queues[0].ready == 3
    run_until_empty(spin)
    refused = browser.post("/failed/purge", {"queue": "spinach"})
    assert refused.status_code == 400
    assert "Tick the box to confirm" in refused.get_data(as_text=True)
    assert failed_count(spin) == 3
    purged = browser.post("/failed/purge", {"queue": "spinach", "confirm": "yes"})
    assert "notice=purged&notice_n=3" in purged.headers["Location"]
    assert failed_count(spin) == 0


def test_retry_all_and_purge_of_one_task_leave_the_others(spin: Engine, browser: Browser) -> None:
    for n in range(2):
        spin.schedule("shop:fail", f"x{n}")
        spin.schedule("shop:other", n)
    spin.schedule("mail:bounce", "ada@example.com")
    run_until_empty(spin)
    run_until_empty(spin, "emails")
    back = "/jobs?state=failed&task=shop:other"
    retried = browser.post("/failed/retry-all", {"task": "shop:other", "next": back})
    assert "notice=retried-all&notice_n=2&notice_task=shop%3Aother" in retried.headers["Location"]
    page = browser.get(retried.headers["Location"]).get_data(as_text=True)
    assert "2 failed jobs of task shop:other queued again." in page
    assert {job.task for job in spin.jobs("ready", "spinach").jobs} == {"shop:other"}
    assert failed_count(spin) == 2 and failed_count(spin, "emails") == 1
    purged = browser.post("/failed/purge", {"task": "shop:fail", "confirm": "yes"})
    assert "notice_n=2" in purged.headers["Location"]
    assert failed_count(spin) == 0 and failed_count(spin, "emails") == 1


def test_bulk_actions_refuse_a_queue_that_does_not_exist(browser: Browser) -> None:
    response = browser.post("/failed/retry-all", {"queue": "nowhere"})
    assert response.status_code == 404


def test_a_limit_override_is_set_and_cleared(spin: Engine, browser: Browser) -> None:
    response = browser.post("/limits/set", {"task": "shop:limited", "limit": "5"})
    assert "notice=limit-set" in response.headers["Location"]
    [limit] = spin.status().limits
    assert (limit.task, limit.limit, limit.override) == ("shop:limited", 5, 5)
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Task shop:limited of queue spinach may now run 5 jobs at once." in page
    cleared = browser.post("/limits/clear", {"task": "shop:limited", "queue": "spinach"})
    assert "notice=limit-cleared" in cleared.headers["Location"]
    assert spin.status().limits == []  # no worker declared the code limit of 2 yet


def test_a_limit_must_be_a_positive_whole_number(browser: Browser) -> None:
    for bad in ("0", "-1", "two", ""):
        response = browser.post("/limits/set", {"task": "shop:limited", "limit": bad})
        assert response.status_code == 400, bad


def test_a_standalone_dashboard_sets_limits_and_pauses_by_name_and_queue(spin: Engine) -> None:
    tasks = Tasks()

    @tasks.task(name="report:hourly", periodicity=timedelta(hours=1))
    def hourly() -> None:
        pass

    spin.attach_tasks(tasks)
    spin.start_workers(number=1, block=False, lease_seconds=0.6)
    wait_for(lambda: spin.status().periodic, message="the worker to register the task")
    browser = Browser(create_app(standalone(spin)))  # no task attached
    paused = browser.post("/periodic/pause", {"task": "report:hourly", "queue": "spinach"})
    assert "notice=paused" in paused.headers["Location"]
    [periodic] = spin.status().periodic
    assert (periodic.task, periodic.paused, periodic.next_run) == ("report:hourly", True, None)
    page = browser.get(paused.headers["Location"]).get_data(as_text=True)
    assert "Periodic task report:hourly of queue spinach is paused" in page
    resumed = browser.post("/periodic/resume", {"task": "report:hourly", "queue": "spinach"})
    assert "notice=resumed" in resumed.headers["Location"]
    wait_for(lambda: [p for p in spin.status().periodic if p.next_run], message="the re-schedule")
    twice = browser.post("/periodic/resume", {"task": "report:hourly", "queue": "spinach"})
    assert "notice=not-resumed" in twice.headers["Location"]

    wait_for(lambda: spin.status().limits, message="the worker to declare its code limit")
    browser.post("/limits/set", {"task": "shop:limited", "queue": "spinach", "limit": "7"})
    [limit] = spin.status().limits
    assert (limit.limit, limit.code_limit, limit.override) == (7, 2, 7)
    cleared = browser.post("/limits/clear", {"task": "shop:limited", "queue": "spinach"})
    assert "notice_limit=2" in cleared.headers["Location"]
    [limit] = spin.status().limits
    assert (limit.limit, limit.override) == (2, None)


def test_acting_on_a_task_by_name_needs_its_queue_unless_it_is_attached(
    browser: Browser,
) -> None:
    for path in ("/periodic/pause", "/periodic/resume", "/limits/set"):
        response = browser.post(path, {"task": "billing:nightly", "limit": "1"})
        assert response.status_code == 400, path
        assert "Choose the queue of task" in response.get_data(as_text=True)
        unknown = browser.post(path, {"task": "billing:nightly", "queue": "nowhere", "limit": "1"})
        assert unknown.status_code == 404, path
    assert browser.post("/periodic/pause", {}).status_code == 400
    long_name = browser.post("/limits/set", {"task": "x" * 201, "queue": "spinach", "limit": "1"})
    assert long_name.status_code == 400


def test_stopping_a_running_job_asks_its_worker_and_says_so(spin: Engine, browser: Browser) -> None:
    job = spin.schedule("shop:later", 1)
    spin.broker.fetch(job.queue, 1, 30_000, worker_id="a-worker")  # a worker holds it now
    page = browser.get(f"/jobs/{job.job_id}").get_data(as_text=True)
    assert f'action="/jobs/{job.job_id}/cancel"' in page and ">Stop<" in page
    response = browser.post(f"/jobs/{job.job_id}/cancel")
    assert response.headers["Location"] == (
        f"/jobs/{job.job_id}?notice=cancel-requested&notice_job={job.job_id}"
    )
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "its worker is asked to stop it" in page
    assert ">Stop<" not in page  # asked once: the page says so instead of offering it again
    assert 'id="job-cancel">asked for' in page and "its worker is stopping it" in page
    info = spin.get_job(job.job_id)
    assert info is not None and info.cancel_requested_at is not None
