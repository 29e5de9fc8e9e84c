"""Jobs sent when a Django transaction commits, on a real PostgreSQL and a real Redis.

Django is configured once per process and test_django.py configures it with SQLite, so this
project runs in a process of its own: a script plays the web app (transactions that commit,
roll back, or roll back a savepoint), then runs the workers, and prints what it saw.
"""

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

pytest.importorskip("django")
pytest.importorskip("psycopg")

from postgres import throwaway_database
from redis_server import RedisServer

pytestmark = pytest.mark.redis

SETTINGS = """
import os

from spinach import RedisBroker

INSTALLED_APPS = ["spinach.contrib.spinachd", "shop"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["TEST_DATABASE"],
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
    }
}
SPINACH_BROKER = RedisBroker.from_url(os.environ["TEST_REDIS_URL"])
SPINACH_NAMESPACE = os.environ["TEST_NAMESPACE"]
USE_TZ = True
"""

SHOP_TASKS = """
from django.db import connection

from spinach import Tasks

tasks = Tasks()
SEEN = []


@tasks.task(name="shop:read_order")
def read_order(order_id):
    # A worker thread: its own connection, which sees committed rows only.
    with connection.cursor() as cursor:
        cursor.execute("SELECT status FROM shop_order WHERE id = %s", [order_id])
        row = cursor.fetchone()
    SEEN.append([order_id, row[0] if row else None])
"""

SCENARIOS = """
import json

import django

django.setup()

from django.core.management import call_command
from django.db import connection, transaction

from shop.tasks import SEEN
from spinach.contrib.spinachd import after_commit, spin

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE shop_order (id serial PRIMARY KEY, status text NOT NULL)")


def insert(status):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO shop_order (status) VALUES (%s) RETURNING id", [status])
        return cursor.fetchone()[0]


def sent():
    stats = spin.broker.queue_stats("spinach")
    return stats.ready + stats.delayed


seen = {}
with transaction.atomic():
    paid = insert("paid")
    after_commit().schedule("shop:read_order", paid)
    seen["inside_the_transaction"] = sent()
seen["after_the_commit"] = sent()

try:
    with transaction.atomic():
        after_commit().schedule("shop:read_order", insert("rolled back"))
        raise RuntimeError("the request failed")
except RuntimeError:
    pass
seen["after_a_rollback"] = sent()

with transaction.atomic():
    kept = insert("kept")
    after_commit().schedule("shop:read_order", kept)
    try:
        with transaction.atomic():  # a savepoint
            after_commit().schedule("shop:read_order", insert("savepoint rolled back"))
            raise RuntimeError("this part failed")
    except RuntimeError:
        pass
seen["after_a_savepoint_rollback"] = sent()

try:
    with transaction.atomic():
        after_commit().schedule("shop:read_order")  # no order_id
except Exception as e:
    seen["bad_arguments"] = type(e).__name__
seen["after_bad_arguments"] = sent()

after_commit().schedule("shop:read_order", paid)  # autocommit: sent at once
seen["outside_a_transaction"] = sent()

call_command("spinach", stop_when_queue_empty=True, threads=2)
seen["runs"] = sorted(SEEN)
seen["ids"] = {"paid": paid, "kept": kept}
print(json.dumps(seen))
"""


def test_jobs_are_sent_when_the_atomic_block_commits_and_read_the_committed_row(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "tasks.py").write_text(textwrap.dedent(SHOP_TASKS))
    (tmp_path / "settings.py").write_text(textwrap.dedent(SETTINGS))
    (tmp_path / "scenarios.py").write_text(textwrap.dedent(SCENARIOS))
    with throwaway_database() as database:
        result = subprocess.run(
            [sys.executable, "scenarios.py"], cwd=tmp_path, capture_output=True, text=True,
            timeout=60, env={
                **os.environ, "DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": str(tmp_path),
                "TEST_DATABASE": database, "TEST_REDIS_URL": redis_server.url,
                "TEST_NAMESPACE": f"dj-{uuid.uuid4().hex[:8]}",
            },
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    paid, kept = seen["ids"]["paid"], seen["ids"]["kept"]
    assert seen["inside_the_transaction"] == 0  # never before the commit
    assert seen["after_the_commit"] == 1
    assert seen["after_a_rollback"] == 1  # never after a rollback
    assert seen["after_a_savepoint_rollback"] == 2  # only the outer block's job
    assert seen["bad_arguments"] == "InvalidJobSignatureError"  # raised inside the block
    assert seen["after_bad_arguments"] == 2
    assert seen["outside_a_transaction"] == 3
    # Each job found its row committed; no job ran for a row that was rolled back.
    assert seen["runs"] == sorted([[paid, "paid"], [kept, "kept"], [paid, "paid"]])
