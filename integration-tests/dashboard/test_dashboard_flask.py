"""The dashboard mounted under a prefix of a real Flask app, against a real redis-server."""

import re

import flask
import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from spinach import Engine
from spinach.job import JobStatus
from spinach_dashboard import create_app

pytestmark = pytest.mark.redis

TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def make_site(shop: Engine) -> flask.Flask:
    site = flask.Flask("shop")

    @site.get("/")
    def home() -> str:
        return "the shop"

    site.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        site.wsgi_app, {"/admin/spinach": create_app(shop)}
    )
    return site


def test_under_a_prefix_every_link_form_and_file_stays_under_it(shop: Engine) -> None:
    site = make_site(shop)
    client = site.test_client()
    assert client.get("/").get_data(as_text=True) == "the shop"
    page = client.get("/admin/spinach/").get_data(as_text=True)
    links = [
        link for link in re.findall(r'(?:href|src|action)="([^"]+)"', page) if link != "data:,"
    ]
    assert links and all(link.startswith("/admin/spinach/") for link in links), links
    css = next(link for link in links if "dashboard.css" in link)
    assert client.get(css).status_code == 200
    cookie = client.get_cookie("spinach_dashboard_csrf", path="/admin/spinach/")
    assert cookie is not None


def test_a_failed_job_is_retried_through_the_mounted_dashboard(shop: Engine) -> None:
    from dashboard.dashboard_app import FLAKY_ALLOWED
    from helpers import wait_for

    job = shop.schedule("shop:charge", 42)
    wait_for(
        lambda: (info := shop.get_job(job.job_id)) is not None and info.status is JobStatus.FAILED
    )
    FLAKY_ALLOWED.set()
    client: Client = make_site(shop).test_client()
    listing = client.get("/admin/spinach/jobs?state=failed").get_data(as_text=True)
    assert job.job_id in listing
    token = TOKEN.search(listing)
    assert token is not None
    response = client.post(
        f"/admin/spinach/jobs/{job.job_id}/retry",
        data={"csrf_token": token.group(1), "next": "/admin/spinach/jobs?state=failed"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith(
        "/admin/spinach/jobs?state=failed&notice=retried"
    )
    wait_for(
        lambda: (
            (info := shop.get_job(job.job_id)) is not None and info.status is JobStatus.SUCCEEDED
        )
    )


def test_every_state_the_chart_and_run_now_work_under_the_prefix(shop: Engine) -> None:
    from datetime import timedelta

    from helpers import wait_for

    client = make_site(shop).test_client()
    for state in ("ready", "held", "delayed", "running", "failed", "finished"):
        answer = client.get(f"/admin/spinach/jobs?state={state}&queue=billing")
        assert answer.status_code == 200, state
    overview = client.get("/admin/spinach/").get_data(as_text=True)
    assert overview.count('<g class="minute">') == 60
    job = shop.schedule_in("shop:send_invoice", timedelta(hours=1), 1)
    delayed = client.get("/admin/spinach/jobs?state=delayed").get_data(as_text=True)
    assert f'action="/admin/spinach/jobs/{job.job_id}/run-now"' in delayed
    token = TOKEN.search(delayed)
    assert token is not None
    response = client.post(
        f"/admin/spinach/jobs/{job.job_id}/run-now",
        data={"csrf_token": token.group(1), "next": "/admin/spinach/jobs?state=delayed"},
    )
    assert response.headers["Location"].startswith(
        "/admin/spinach/jobs?state=delayed&notice=ran-now"
    )
    wait_for(
        lambda: (
            (info := shop.get_job(job.job_id)) is not None and info.status is JobStatus.SUCCEEDED
        )
    )
