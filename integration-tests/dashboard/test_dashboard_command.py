"""`spinach dashboard`: the standalone server, bound to loopback, read-only, behind a password."""

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dashboard.http_client import HttpClient
from redis_server import RedisServer, free_port

from spinach import Engine

pytestmark = pytest.mark.redis

SPINACH = Path(sys.executable).parent / "spinach"


@contextmanager
def dashboard_command(
    *args: str, env: dict[str, str] | None = None, tmp: Path
) -> Iterator[tuple[str, str]]:
    """Run `spinach dashboard ARGS` until its first line (where it listens); yield it and URL."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SPINACH_")}
    environ.update(env or {})
    log = tmp / f"dashboard-{len(list(tmp.iterdir()))}.log"
    with (
        log.open("w") as errors,
        subprocess.Popen(
            [str(SPINACH), "dashboard", *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            env=environ,
            text=True,
        ) as process,
    ):
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert " on http://" in line, log.read_text()
            url = line.split(" on ", 1)[1].split("/ ", 1)[0]
            yield line, url
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(10) == 0, log.read_text()


def test_it_serves_the_namespace_on_loopback_and_says_where(
    shop: Engine, redis_server: RedisServer, tmp_path: Path
) -> None:
    args = ["--redis-url", redis_server.url, "--namespace", shop.namespace, "--port", "0"]
    with dashboard_command(*args, tmp=tmp_path) as (line, url):
        assert url.startswith("http://127.0.0.1:")
        assert f"namespace {shop.namespace} (redis://127.0.0.1:{redis_server.port}/0)" in line
        answer = HttpClient(url).get("/")
        assert answer.status == 200
        assert '<tr data-queue="billing" data-state="running">' in answer.text


def test_read_only_refuses_actions(shop: Engine, redis_server: RedisServer, tmp_path: Path) -> None:
    args = ["--redis-url", redis_server.url, "--namespace", shop.namespace, "--port", "0"]
    with dashboard_command(*args, "--read-only", tmp=tmp_path) as (line, url):
        assert "read-only" in line
        answer = HttpClient(url).post("/failed/retry-all", {})
        assert answer.status == 403
        assert "read-only" in answer.text


def test_a_password_from_the_environment_is_required(
    shop: Engine, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {"SPINACH_DASHBOARD_PASSWORD": "correct horse"}
    args = ["--redis-url", redis_server.url, "--namespace", shop.namespace, "--port", "0"]
    with dashboard_command(*args, env=env, tmp=tmp_path) as (line, url):
        assert "password required" in line and "correct horse" not in line
        assert HttpClient(url).get("/").status == 401
        token = base64.b64encode(b"admin:correct horse").decode()
        assert HttpClient(url, {"Authorization": f"Basic {token}"}).get("/").status == 200


def test_credentials_of_the_redis_url_are_never_printed(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    done = subprocess.run(
        [str(SPINACH), "--redis-url", url, "dashboard", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 3
    assert "s3cret-pw" not in done.stdout + done.stderr
    assert "cannot reach Redis" in done.stderr


def test_without_the_package_it_says_what_to_install(redis_server: RedisServer) -> None:
    code = (
        "import sys; sys.modules['spinach_dashboard'] = None\n"
        "from spinach.cli import main\n"
        f"sys.exit(main(['--redis-url', {redis_server.url!r}, 'dashboard']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "pip install spinach-dashboard" in done.stderr


def test_the_standalone_server_acts_on_tasks_by_name_and_queue(
    shop: Engine, redis_server: RedisServer, tmp_path: Path
) -> None:
    from helpers import wait_for

    wait_for(lambda: shop.status().periodic, message="the workers to schedule the periodic task")
    args = ["--redis-url", redis_server.url, "--namespace", shop.namespace, "--port", "0"]
    with dashboard_command(*args, tmp=tmp_path) as (_line, url):
        client = HttpClient(url)
        periodic = client.get("/periodic").text
        assert (
            '<tr data-task="shop:nightly_report" data-queue="billing" data-state="scheduled">'
            in (periodic)
        )
        form = {"task": "shop:nightly_report", "queue": "billing"}
        assert client.post("/periodic/pause", form, page="/periodic").status == 303
        assert [p.paused for p in shop.status().periodic] == [True]
        assert client.post("/periodic/resume", form, page="/periodic").status == 303
        limit = {"task": "shop:export", "queue": "billing", "limit": "2"}
        assert client.post("/limits/set", limit, page="/limits").status == 303
        [export] = shop.status().limits
        assert (export.limit, export.code_limit, export.override) == (2, 3, 2)
        clear = {"task": "shop:export", "queue": "billing"}
        assert client.post("/limits/clear", clear, page="/limits").status == 303
        [export] = shop.status().limits
        assert (export.limit, export.override) == (3, None)
        no_queue = client.post("/limits/set", {"task": "shop:export", "limit": "2"}, page="/")
        assert no_queue.status == 400 and "Choose the queue of task" in no_queue.text
