"""A throwaway PostgreSQL database on the local server, created for a test run and dropped after.

The server is the machine's (127.0.0.1:5432, user postgres, trust auth); only the database
made here is touched. Without a reachable server the tests are skipped, or fail on CI.
"""

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """Create a database with a unique name; yield its name; drop it (closing its sessions)."""
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql

    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True)
    except psycopg.OperationalError as e:
        message = f"PostgreSQL is not reachable on 127.0.0.1:5432 as user postgres: {e}"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    name = f"spinach_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield name
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def sqlalchemy_url(database: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
