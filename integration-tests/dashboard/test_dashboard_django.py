"""The dashboard in a real Django project: an `include` in urls.py, served over HTTP.

Django is configured once per process (test_django.py configures it in this one), so the
project runs in a process of its own: waitress serves Django's WSGI application on a loopback
port, and the test talks to it over HTTP like a browser.
"""

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard.http_client import HttpClient
from helpers import wait_for
from redis_server import RedisServer

from spinach import Engine
from spinach.job import JobStatus

pytestmark = pytest.mark.redis

SETTINGS = """
SECRET_KEY = "django-insecure-dashboard-test-key-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
DATABASES = {}
"""

URLS = """
import os

from django.http import HttpResponse
from django.urls import include, path

from spinach import Engine, RedisBroker
from spinach_dashboard import create_app
from spinach_dashboard.django import urls as dashboard_urls
from django.conf import settings


def staff_only(environ):
    # The Django request is handed to the hook: a real project checks request.user.is_staff.
    return environ["django.request"].headers.get("X-Staff") == "yes"


spin = Engine(RedisBroker.from_url(os.environ["REDIS_URL"]), namespace=os.environ["NAMESPACE"])
dashboard = create_app(spin, authorize=staff_only, secret_key=settings.SECRET_KEY)

urlpatterns = [
    path("", lambda request: HttpResponse("the shop")),
    path("ops/spinach/", include(dashboard_urls(dashboard))),
]
"""

SERVE = """
import os
import sys

import django

os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
django.setup()

import waitress
from django.core.wsgi import get_wsgi_application

server = waitress.create_server(get_wsgi_application(), host="127.0.0.1", port=0, threads=4)
print(server.effective_port, flush=True)
server.run()
"""


@pytest.fixture
def django_site(shop: Engine, redis_server: RedisServer, tmp_path: Path) -> Iterator[str]:
    for name, code in (("settings.py", SETTINGS), ("urls.py", URLS), ("serve.py", SERVE)):
        (tmp_path / name).write_text(textwrap.dedent(code))
    env = {"REDIS_URL": redis_server.url, "NAMESPACE": shop.namespace, "PATH": "/usr/bin:/bin"}
    log = tmp_path / "server.log"
    with (
        log.open("w") as errors,
        subprocess.Popen(
            [sys.executable, "serve.py"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as process,
    ):
        try:
            assert process.stdout is not None
            port = process.stdout.readline().strip()
            assert port.isdigit(), log.read_text()
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(10)


def test_the_included_dashboard_serves_its_pages_under_the_prefix(django_site: str) -> None:
    staff = HttpClient(django_site, {"X-Staff": "yes"})
    assert staff.get("/").text == "the shop"
    listed = ("ready", "held", "delayed", "running", "finished")
    states = [f"jobs?state={state}" for state in listed]
    for path in ("", "workers", "jobs", *states, "periodic", "limits"):
        answer = staff.get(f"/ops/spinach/{path}")
        assert answer.status == 200, (path, answer.text[:500])
        assert 'href="/ops/spinach/static/dashboard.css' in answer.text
    assert staff.get("/ops/spinach/static/dashboard.js").status == 200
    assert staff.get("/ops/spinach/jobs/nope").status == 400
    assert staff.get("/ops/spinach/nowhere").status == 404


def test_the_authorize_hook_gets_the_django_request(django_site: str) -> None:
    stranger = HttpClient(django_site)
    answer = stranger.get("/ops/spinach/")
    assert answer.status == 403
    assert "not authorized" in answer.text


def test_a_failed_job_is_retried_and_a_waiting_one_cancelled_through_django(
    django_site: str, shop: Engine
) -> None:
    from dashboard.dashboard_app import FLAKY_ALLOWED

    failed = shop.schedule("shop:charge", 7)
    wait_for(lambda: (info := shop.get_job(failed.job_id)) is not None
             and info.status is JobStatus.FAILED)  # fmt: skip
    FLAKY_ALLOWED.set()
    staff = HttpClient(django_site, {"X-Staff": "yes"})
    page = "/ops/spinach/jobs?state=failed"
    answer = staff.post(f"/ops/spinach/jobs/{failed.job_id}/retry", {"next": page}, page=page)
    assert answer.status == 303, answer.text[:500]
    assert answer.headers["Location"].startswith(page + "&notice=retried")
    wait_for(lambda: (info := shop.get_job(failed.job_id)) is not None
             and info.status is JobStatus.SUCCEEDED)  # fmt: skip

    from datetime import timedelta

    waiting = shop.schedule_in("shop:send_invoice", timedelta(hours=1), 9)
    answer = staff.post(f"/ops/spinach/jobs/{waiting.job_id}/cancel", {}, page="/ops/spinach/")
    assert answer.status == 303
    info = shop.get_job(waiting.job_id)
    assert info is not None and info.status is JobStatus.CANCELLED

    forged = staff.request(f"/ops/spinach/jobs/{failed.job_id}/retry", {"csrf_token": "nope"})
    assert forged.status == 403


def test_run_now_and_a_pause_by_name_through_django(django_site: str, shop: Engine) -> None:
    from datetime import timedelta

    staff = HttpClient(django_site, {"X-Staff": "yes"})
    job = shop.schedule_in("shop:send_invoice", timedelta(hours=1), 3)
    page = "/ops/spinach/jobs?state=delayed"
    answer = staff.post(f"/ops/spinach/jobs/{job.job_id}/run-now", {"next": page}, page=page)
    assert answer.status == 303, answer.text[:500]
    wait_for(lambda: (info := shop.get_job(job.job_id)) is not None
             and info.status is JobStatus.SUCCEEDED)  # fmt: skip

    wait_for(lambda: shop.status().periodic, message="the workers to schedule the periodic task")
    form = {"task": "shop:nightly_report", "queue": "billing"}  # the Django app has no tasks
    answer = staff.post("/ops/spinach/periodic/pause", form, page="/ops/spinach/periodic")
    assert answer.status == 303, answer.text[:500]
    assert [p.paused for p in shop.status().periodic] == [True]
    assert 'data-state="paused"' in staff.get("/ops/spinach/periodic").text
    staff.post("/ops/spinach/periodic/resume", form, page="/ops/spinach/periodic")
    assert [p.paused for p in shop.status().periodic] in ([], [False])
