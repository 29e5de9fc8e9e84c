"""The Django app on a real Django project: settings, tasks modules, connections, email, command.

Django can be configured once per process: one project, made in a temporary folder, serves
every test of this module. Each test drains the queue it filled.
"""

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from email.mime.text import MIMEText
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from helpers import PrintedLines, wait_for
from redis_server import RedisServer

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402

from spinach import Engine, MemoryBroker, RedisBroker  # noqa: E402

NAMESPACE = f"django-{uuid.uuid4().hex[:8]}"

SHOP_TASKS = """
import threading

from django.db import connection

from spinach import Tasks

tasks = Tasks()
RUNS = []


@tasks.task(name="shop:record_visit")
def record_visit(n):
    RUNS.append({
        "n": n,
        "connection_open_at_start": connection.connection is not None,
        "queries_at_start": len(connection.queries),
        "thread": threading.current_thread().name,
    })
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO shop_visit (n) VALUES (%s)", [n])
        cursor.execute("SELECT COUNT(*) FROM shop_visit")
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Django project with two apps: `shop` declares tasks, `blog` has a tasks module without."""
    root = tmp_path_factory.mktemp("django_project")
    for app, tasks_module in (("shop", SHOP_TASKS), ("blog", "LATER = 'no Tasks here'\n")):
        (root / app).mkdir()
        (root / app / "__init__.py").write_text("")
        (root / app / "tasks.py").write_text(textwrap.dedent(tasks_module))
    sys.path.insert(0, str(root))
    if settings.configured:
        pytest.skip("Django was configured by something else in this process")
    settings.configure(
        DEBUG=True,  # Django then logs every query: the log must be reset between jobs
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "spinach.contrib.spinachd",
            "shop",
            "blog",
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(root / "db.sqlite3")}
        },
        EMAIL_BACKEND="spinach.contrib.spinachd.mail.BackgroundEmailBackend",
        SPINACH_ACTUAL_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        SPINACH_BROKER=MemoryBroker(),
        SPINACH_NAMESPACE=NAMESPACE,
        SPINACH_WORKER_NUMBER=1,
        DEFAULT_FROM_EMAIL="shop@example.com",
    )
    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE shop_visit (n INTEGER)")
    yield root
    connection.close()
    sys.path.remove(str(root))


def shop_tasks() -> ModuleType:
    import shop.tasks  # type: ignore[import-not-found]

    return shop.tasks  # type: ignore[no-any-return]


def drain(**options: Any) -> None:
    from django.core.management import call_command

    call_command("spinach", stop_when_queue_empty=True, **options)


def test_the_engine_comes_from_the_settings_and_finds_the_tasks_modules(project: Path) -> None:
    from spinach.contrib import spinachd
    from spinach.contrib.spinachd.apps import spin

    assert spinachd.spin is spin
    assert spin.namespace == NAMESPACE
    assert spin.broker is settings.SPINACH_BROKER
    assert set(spin.tasks.names) == {
        "shop:record_visit",
        "spinachd:send_emails",
        "spinachd:clear_expired_sessions",
    }
    assert shop_tasks().tasks._spin is spin


def test_jobs_get_a_fresh_database_connection_and_query_log(project: Path) -> None:
    from django.db import connection

    from spinach.contrib.spinachd import spin

    module = shop_tasks()
    module.RUNS.clear()
    for n in range(3):
        spin.schedule("shop:record_visit", n)
    drain(threads=1)

    runs = sorted(module.RUNS, key=lambda run: run["n"])
    assert [run["n"] for run in runs] == [0, 1, 2]
    assert len({run["thread"] for run in runs}) == 1  # one thread, one connection reused...
    # ...yet each job found it closed (CONN_MAX_AGE=0) and the query log empty.
    assert [run["connection_open_at_start"] for run in runs] == [False, False, False]
    assert [run["queries_at_start"] for run in runs] == [0, 0, 0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT n FROM shop_visit ORDER BY n")
        assert [row[0] for row in cursor.fetchall()] == [0, 1, 2]


def test_emails_go_through_a_job_without_pickle_and_arrive_whole(project: Path) -> None:
    from django.core import mail
    from django.core.mail import EmailMultiAlternatives

    mail.outbox = []
    message = EmailMultiAlternatives(
        subject="Your order",
        body="Thanks for your order.",
        from_email="orders@example.com",
        to=["ada@example.com"],
        cc=["boss@example.com"],
        bcc=["audit@example.com"],
        reply_to=["help@example.com"],
        headers={"X-Order": "1234"},
    )
    message.attach_alternative("<p>Thanks for your <b>order</b>.</p>", "text/html")
    message.attach("invoice.pdf", b"%PDF-1.4\x00\xff binary", "application/pdf")
    message.attach("notes.txt", "Leave at the door ✓", "text/plain")
    message.attach(MIMEText("inline part", "plain"))
    message.encoding = "utf-8"
    assert message.send() == 1
    assert mail.EmailMessage("Hello", "Plain body", to=["bob@example.com"]).send() == 1
    assert mail.outbox == []  # nothing sent yet: two jobs wait in the queue
    drain(threads=2)

    assert len(mail.outbox) == 2
    sent = {m.subject: m for m in mail.outbox}
    order, hello = sent["Your order"], sent["Hello"]
    assert isinstance(order, EmailMultiAlternatives)
    assert (order.body, order.from_email) == ("Thanks for your order.", "orders@example.com")
    assert (order.to, order.cc, order.bcc) == (
        ["ada@example.com"],
        ["boss@example.com"],
        ["audit@example.com"],
    )
    assert order.reply_to == ["help@example.com"]
    assert order.extra_headers == {"X-Order": "1234"}
    assert order.encoding == "utf-8"
    assert [tuple(a) for a in order.alternatives] == [
        ("<p>Thanks for your <b>order</b>.</p>", "text/html")
    ]
    files = [tuple(a) for a in order.attachments[:2]]
    assert files == [
        ("invoice.pdf", b"%PDF-1.4\x00\xff binary", "application/pdf"),
        ("notes.txt", "Leave at the door ✓", "text/plain"),
    ]
    part = order.attachments[2]
    assert part.get_content_type() == "text/plain" and part.get_payload() == "inline part"
    assert order.message()["X-Order"] == "1234"
    assert (hello.body, hello.from_email, hello.to) == (
        "Plain body",
        "shop@example.com",
        ["bob@example.com"],
    )
    assert type(hello) is mail.EmailMessage


def test_email_messages_serialize_to_json_compatible_data(project: Path) -> None:
    import json

    from django.core.mail import EmailMultiAlternatives

    from spinach.contrib.spinachd.mail import (
        deserialize_email_messages,
        serialize_email_messages,
    )

    message = EmailMultiAlternatives("Hi", "Body", to=["a@example.com"])
    message.attach("data.bin", bytes(range(256)), "application/octet-stream")
    data = serialize_email_messages([message])
    assert json.loads(json.dumps(data)) == data
    [back] = deserialize_email_messages(json.loads(json.dumps(data)))
    assert type(back) is EmailMultiAlternatives
    assert [tuple(a) for a in back.attachments] == [
        ("data.bin", bytes(range(256)), "application/octet-stream")
    ]


def test_the_spinach_command_takes_threads_and_queue(project: Path) -> None:
    from django.core.management import CommandError, call_command

    from spinach.contrib.spinachd import spin

    module = shop_tasks()
    module.RUNS.clear()
    spin.schedule("shop:record_visit", 10)
    call_command("spinach", "--threads", "2", "--queue", "spinach", "--stop-when-queue-empty")
    assert [run["n"] for run in module.RUNS] == [10]

    with pytest.raises(CommandError, match="--threads"):
        call_command("spinach", "--threads", "0")


HOLDING_SETTINGS = """
import os

from spinach import RedisBroker

INSTALLED_APPS = ["spinach.contrib.spinachd", "holding"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
SPINACH_BROKER = RedisBroker.from_url(os.environ["TEST_REDIS_URL"])
SPINACH_NAMESPACE = os.environ["TEST_NAMESPACE"]
USE_TZ = True
"""

HOLDING_TASKS = """
import pathlib
import time

from spinach import Tasks

tasks = Tasks()


@tasks.task(name="hold")
def hold(folder):
    (pathlib.Path(folder) / "started").touch()
    deadline = time.monotonic() + 30
    while not (pathlib.Path(folder) / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
"""


@pytest.mark.redis
def test_manage_py_spinach_says_when_it_starts_and_what_a_stop_waits_for(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    namespace = f"django-run-{uuid.uuid4().hex[:8]}"
    (tmp_path / "holding").mkdir()
    (tmp_path / "holding" / "__init__.py").write_text("")
    (tmp_path / "holding" / "tasks.py").write_text(HOLDING_TASKS)
    (tmp_path / "holding_settings.py").write_text(HOLDING_SETTINGS)
    sender = Engine(RedisBroker.from_url(redis_server.url), namespace=namespace)
    sender.task(lambda folder: None, name="hold")
    sender.schedule("hold", str(tmp_path))
    sender.schedule("hold", str(tmp_path))
    env = {
        **os.environ, "TEST_REDIS_URL": redis_server.url, "TEST_NAMESPACE": namespace,
        "DJANGO_SETTINGS_MODULE": "holding_settings", "PYTHONPATH": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "spinach", "--threads", "2", "--shutdown-timeout", "15"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = PrintedLines(process)
    try:
        assert lines.wait_for("Running ") == (
            f"Running 2 workers on queue 'spinach' of namespace '{namespace}'; Ctrl-C to stop"
        )
        wait_for(
            lambda: sender.status().queues[0].running == 2, timeout=30, message="both jobs to run"
        )
        process.send_signal(signal.SIGTERM)
        assert lines.wait_for("Stopping: ") == (
            "Stopping: waiting up to 15s for 2 running jobs to finish; Ctrl-C again to exit at once"
        )
        (tmp_path / "release").touch()
        assert process.wait(timeout=30) == 0, lines.seen
        assert lines.wait_for("Workers stopped")
    finally:
        process.kill()
        process.wait()
        lines.close()
        sender.broker.close()
