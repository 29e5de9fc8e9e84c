"""The admin surface's guards: CSRF, read-only mode, the authorize hook, errors, credentials."""

import re
from datetime import timedelta
from typing import Any

import pytest
from dashboard_helpers import Browser, run_until_empty

from spinach import Engine, RedisBroker
from spinach.job import JobStatus
from spinach_dashboard import create_app
from spinach_dashboard.csrf import Csrf
from spinach_dashboard.data import redis_location, strip_credentials


def failed_job(spin: Engine) -> str:
    job = spin.schedule("shop:fail", "x")
    run_until_empty(spin)
    return job.job_id


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    spin: Engine, browser: Browser
) -> None:
    job_id = failed_job(spin)
    browser.get("/")  # the browser has its cookie
    response = browser.post(f"/jobs/{job_id}/retry", token=False)
    assert response.status_code == 403
    assert "reload the page and try again" in response.get_data(as_text=True)
    forged = browser.post(f"/jobs/{job_id}/retry", {"csrf_token": "x" * 43})
    assert forged.status_code == 403
    info = spin.get_job(job_id)
    assert info is not None and info.status is JobStatus.FAILED


def test_a_post_from_a_browser_without_the_cookie_is_refused(spin: Engine) -> None:
    job_id = failed_job(spin)
    app = create_app(spin)
    token = Browser(app).token()  # a token stolen from someone else's page
    response = Browser(app).client.post(f"/jobs/{job_id}/retry", data={"csrf_token": token})
    assert response.status_code == 403


def test_with_a_secret_key_the_token_is_a_signature_of_the_cookie(spin: Engine) -> None:
    job_id = failed_job(spin)
    browser = Browser(create_app(spin, secret_key="s" * 32))
    token = browser.token()
    cookie = browser.client.get_cookie("spinach_dashboard_csrf")
    assert cookie is not None and cookie.value != token
    cookie_as_token = browser.post(f"/jobs/{job_id}/retry", {"csrf_token": cookie.value})
    assert cookie_as_token.status_code == 403
    assert browser.post(f"/jobs/{job_id}/retry").status_code == 303


def test_the_csrf_cookie_is_http_only_same_site_strict_and_scoped() -> None:
    csrf = Csrf()
    cookie = csrf.new_cookie()
    assert csrf.check(cookie, csrf.token(cookie))
    assert not csrf.check(cookie, csrf.token(csrf.new_cookie()))
    assert not csrf.check(None, cookie)
    assert not csrf.check("short", "short")
    with pytest.raises(ValueError, match="16 bytes"):
        Csrf("tiny")


def test_the_cookie_is_set_with_its_attributes(browser: Browser) -> None:
    header = browser.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header


def test_gets_never_change_state_and_post_urls_refuse_them(spin: Engine, browser: Browser) -> None:
    job = spin.schedule_in("shop:later", timedelta(hours=1), 1)
    assert browser.get(f"/jobs/{job.job_id}/cancel").status_code == 405
    info = spin.get_job(job.job_id)
    assert info is not None and info.status is JobStatus.WAITING


def test_read_only_shows_everything_and_refuses_every_action(spin: Engine) -> None:
    job_id = failed_job(spin)
    waiting = spin.schedule_in("shop:later", timedelta(hours=1), 1)
    browser = Browser(create_app(spin, read_only=True))
    paths = ("/", "/jobs", "/jobs?state=delayed", f"/jobs/{job_id}", f"/jobs/{waiting.job_id}",
             "/periodic", "/limits")  # fmt: skip
    pages = [browser.get(path) for path in paths]
    assert all(page.status_code == 200 for page in pages)
    assert all('method="post"' not in page.get_data(as_text=True) for page in pages)
    assert "read-only" in pages[0].get_data(as_text=True)
    for path, form in (
        (f"/jobs/{job_id}/retry", {}),
        (f"/jobs/{waiting.job_id}/cancel", {}),
        (f"/jobs/{waiting.job_id}/run-now", {}),
        ("/failed/retry-all", {}),
        ("/failed/retry-all", {"task": "shop:fail"}),
        ("/failed/purge", {"confirm": "yes"}),
        ("/failed/purge", {"confirm": "yes", "task": "shop:fail"}),
        ("/periodic/pause", {"task": "shop:later", "queue": "spinach"}),
        ("/periodic/resume", {"task": "shop:later", "queue": "spinach"}),
        ("/limits/set", {"task": "shop:limited", "limit": "1"}),
        ("/limits/clear", {"task": "shop:limited", "queue": "spinach"}),
    ):
        response = browser.post(path, form)
        assert response.status_code == 403, path
        assert "This dashboard is read-only" in response.get_data(as_text=True)
    assert spin.status("spinach").queues[0].failed == 1
    info = spin.get_job(waiting.job_id)
    assert info is not None and info.status is JobStatus.WAITING
    assert spin.status().periodic == []
    assert [limit.override for limit in spin.status().limits] == [None]


@pytest.mark.parametrize("verdict", [False, "raise"])
def test_the_authorize_hook_refuses_pages_and_actions(spin: Engine, verdict: Any) -> None:
    job_id = failed_job(spin)
    seen: list[str] = []

    def authorize(environ: dict[str, Any]) -> bool:
        seen.append(environ["PATH_INFO"])
        if verdict == "raise":
            raise RuntimeError("login service down")
        return bool(verdict)

    browser = Browser(create_app(spin, authorize=authorize))
    for path in ("/", f"/jobs/{job_id}"):
        response = browser.get(path)
        assert response.status_code == 403
        assert "not authorized" in response.get_data(as_text=True)
        assert job_id not in response.get_data(as_text=True) or path != "/"
    response = browser.client.post(f"/jobs/{job_id}/retry")
    assert response.status_code == 403
    assert "/" in seen
    assert browser.get("/static/dashboard.css").status_code == 200  # public files only


def test_the_authorize_hook_lets_in_whom_it_approves(spin: Engine) -> None:
    app = create_app(spin, authorize=lambda environ: environ.get("REMOTE_USER") == "ada")
    browser = Browser(app)
    assert browser.get("/").status_code == 403
    assert browser.get("/", environ_overrides={"REMOTE_USER": "ada"}).status_code == 200


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/jobs/not-a-job", 400, "is not a job id"),
        ("/jobs/6f1d7a4e-0c1b-4b7f-9a57-2f6d1c3e8b90", 404, "No job 6f1d7a4e"),
        ("/jobs?offset=-1", 400, "offset must be a whole number"),
        ("/jobs?offset=1e3", 400, "offset must be a whole number"),
        ("/jobs?state=lost", 400, "Unknown job state"),
        ("/jobs?state=ready&offset=2000", 400, "choose a queue to see the others"),
        ("/jobs?state=ready&task=x&offset=50", 400, "choose a queue to page"),
        ("/jobs?task=" + "x" * 201, 400, "at most 200 characters"),
        ("/jobs?queue=nowhere", 404, "No queue &#39;nowhere&#39;"),
        ("/jobs?queue=%7Bbad%7D", 400, "{bad}"),
        ("/lookup?id=", 400, "Enter the id of a job"),
        ("/no/such/page", 404, "Not found"),
        ("/static/secrets.txt", 404, "No file"),
    ],
)
def test_bad_input_gets_a_clear_page_never_a_traceback(
    browser: Browser, path: str, status: int, message: str
) -> None:
    response = browser.get(path)
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in body
    assert "Traceback" not in body
    assert '<a href="/">Back to the overview</a>' in body


def test_an_unreachable_redis_is_a_503_page() -> None:
    engine = Engine(RedisBroker.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2),
                    namespace="down")  # fmt: skip
    response = Browser(create_app(engine)).get("/")
    assert response.status_code == 503
    assert "Redis cannot be reached" in response.get_data(as_text=True)


def test_credentials_in_the_redis_url_are_never_shown() -> None:
    broker = RedisBroker.from_url("redis://ada:s3cret-pw@10.0.0.7:6380/2")
    assert redis_location(broker) == "redis://10.0.0.7:6380/2"
    assert strip_credentials("rediss://ada:s3cret-pw@db:6390/1") == "rediss://db:6390/1"
    assert strip_credentials("redis://db/0") == "redis://db/0"


def test_every_response_forbids_foreign_scripts_and_framing(browser: Browser) -> None:
    for path in ("/", "/jobs/nope", "/static/dashboard.js"):
        headers = browser.get(path).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_pages_load_nothing_from_elsewhere(spin: Engine, browser: Browser) -> None:
    failed_job(spin)
    for path in ("/", "/workers", "/jobs", "/jobs?state=ready", "/periodic", "/limits"):
        page = browser.get(path).get_data(as_text=True)
        assert not re.search(r'(src|href)="(https?:)?//', page), path
        assert " style=" not in page, path  # the CSP allows no inline style (the chart has none)


def test_a_notice_shows_only_the_dashboard_s_own_messages(browser: Browser) -> None:
    page = browser.get("/?notice=purged&notice_n=12").get_data(as_text=True)
    assert "12 failed jobs deleted." in page
    forged = browser.get("/?notice=<b>pwned</b>").get_data(as_text=True)
    assert "pwned" not in forged
    tricky = browser.get("/?notice=paused&notice_task=<i>x</i>").get_data(as_text=True)
    assert "&lt;i&gt;x&lt;/i&gt;" in tricky


def test_an_action_never_redirects_outside_the_dashboard(spin: Engine, browser: Browser) -> None:
    job_id = failed_job(spin)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = browser.post(f"/jobs/{job_id}/retry", {"next": target})
        assert response.headers["Location"].startswith(f"/jobs/{job_id}?notice=")


def test_a_refused_request_learns_nothing_of_the_namespace(spin: Engine) -> None:
    browser = Browser(create_app(spin, authorize=lambda environ: False))
    for path in ("/", "/no/such/page", f"/jobs/{'0' * 8}-0000-0000-0000-{'0' * 12}"):
        response = browser.get(path)
        assert response.status_code == 403, path
        body = response.get_data(as_text=True)
        assert spin.namespace not in body and "embedded broker" not in body, path


def test_actions_under_a_prefix_return_to_the_page_they_came_from(spin: Engine) -> None:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    job = spin.schedule("shop:fail", "x")
    run_until_empty(spin)
    site = DispatcherMiddleware(create_app(spin), {"/ops": create_app(spin)})
    browser = Browser(site, prefix="/ops")
    page = browser.get("/jobs?state=failed").get_data(as_text=True)
    nexts = set(re.findall(r'name="next" value="([^"]+)"', page))
    assert nexts == {"/ops/jobs?state=failed"}
    response = browser.post(f"/jobs/{job.job_id}/retry", {"next": nexts.pop()})
    assert response.headers["Location"].startswith("/ops/jobs?state=failed&notice=retried")
