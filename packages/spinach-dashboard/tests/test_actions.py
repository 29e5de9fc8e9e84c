"""Each action changes the state it names, then redirects to its page with a notice."""

from datetime import timedelta

from dashboard_helpers import Browser, run_until_empty

from spinach import Engine
from spinach.job import JobStatus


def status_of(spin: Engine, job_id: str) -> JobStatus:
    info = spin.get_job(job_id)
    assert info is not None
    return info.status


def test_retrying_a_failed_job_queues_it_again(spin: Engine, browser: Browser) -> None:
    job = spin.schedule("shop:fail", "x")
    run_until_empty(spin)
    response = browser.post(f"/jobs/{job.job_id}/retry", {"next": "/jobs?state=failed"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/jobs?state=failed&notice=retried&job={job.job_id}"
    assert status_of(spin, job.job_id) is JobStatus.QUEUED
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Job {job.job_id} is queued again." in page
    again = browser.post(f"/jobs/{job.job_id}/retry")
    assert "notice=not-retried" in again.headers["Location"]


def test_cancelling_a_waiting_job_removes_it_for_good(spin: Engine, browser: Browser) -> None:
    job = spin.schedule_in("shop:later", timedelta(hours=1), 1)
    response = browser.post(f"/jobs/{job.job_id}/cancel")
    assert response.headers["Location"] == f"/jobs/{job.job_id}?notice=cancelled&job={job.job_id}"
    assert status_of(spin, job.job_id) is JobStatus.CANCELLED
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "it will not run" in page and 'id="job-status">cancelled<' in page
    twice = browser.post(f"/jobs/{job.job_id}/cancel")
    assert "notice=cancel-finished" in twice.headers["Location"]


def test_retry_all_and_purge_act_on_the_queue_asked(spin: Engine, browser: Browser) -> None:
    for n in range(3):
        spin.schedule("shop:fail", f"x{n}")
    run_until_empty(spin)
    response = browser.post("/failed/retry-all", {"queue": "spinach"})
    assert "notice=retried-all&n=3" in response.headers["Location"]
    assert spin.status().queues[0].ready == 3
    run_until_empty(spin)
    refused = browser.post("/failed/purge", {"queue": "spinach"})
    assert refused.status_code == 400
    assert "Tick the box to confirm" in refused.get_data(as_text=True)
    assert spin.status().queues[0].failed == 3
    purged = browser.post("/failed/purge", {"queue": "spinach", "confirm": "yes"})
    assert "notice=purged&n=3" in purged.headers["Location"]
    assert spin.status().queues[0].failed == 0


def test_bulk_actions_refuse_a_queue_that_does_not_exist(browser: Browser) -> None:
    response = browser.post("/failed/retry-all", {"queue": "nowhere"})
    assert response.status_code == 404


def test_a_limit_override_is_set_and_cleared(spin: Engine, browser: Browser) -> None:
    response = browser.post("/limits/set", {"task": "shop:limited", "limit": "5"})
    assert "notice=limit-set" in response.headers["Location"]
    [limit] = spin.status().limits
    assert (limit.task, limit.limit) == ("shop:limited", 5)
    page = browser.get("/limits").get_data(as_text=True)
    assert "Task shop:limited may now run" not in page  # no notice without an action
    cleared = browser.post("/limits/clear", {"task": "shop:limited"})
    assert "notice=limit-cleared" in cleared.headers["Location"]
    assert spin.status().limits == []  # no worker declared the code limit of 2 yet


def test_a_limit_must_be_a_positive_whole_number(browser: Browser) -> None:
    for bad in ("0", "-1", "two", ""):
        response = browser.post("/limits/set", {"task": "shop:limited", "limit": bad})
        assert response.status_code == 400, bad


def test_acting_on_a_task_the_engine_does_not_have_says_how_to_make_it_possible(
    browser: Browser,
) -> None:
    for path in ("/periodic/pause", "/periodic/resume", "/limits/set"):
        response = browser.post(path, {"task": "billing:nightly", "limit": "1"})
        assert response.status_code == 404
        assert "not attached to this dashboard" in response.get_data(as_text=True)
    assert browser.post("/periodic/pause", {}).status_code == 400
