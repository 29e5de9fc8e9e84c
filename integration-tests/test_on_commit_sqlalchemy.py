"""Jobs sent when a SQLAlchemy Session commits, on a real PostgreSQL and a real Redis."""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")

from postgres import sqlalchemy_url, throwaway_database  # noqa: E402
from redis_server import RedisServer  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402

from spinach import Batch, Engine, RedisBroker, Tasks  # noqa: E402
from spinach.contrib.sqlalchemy import after_commit  # noqa: E402
from spinach.exc import InvalidArgumentsError, InvalidJobSignatureError  # noqa: E402

pytestmark = pytest.mark.redis


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str]


@pytest.fixture(scope="module")
def database() -> Iterator[Any]:
    with throwaway_database() as name:
        db = create_engine(sqlalchemy_url(name))
        Base.metadata.create_all(db)
        yield db
        db.dispose()


@pytest.fixture
def app(database: Any, redis_server: RedisServer) -> tuple[Engine, list[tuple[int, str | None]]]:
    """An engine whose task reads the order it is given, on a connection of its own."""
    seen: list[tuple[int, str | None]] = []
    tasks = Tasks()

    @tasks.task(name="read_order")
    def read_order(order_id: int) -> None:
        with Session(database) as session:
            order = session.get(Order, order_id)
            seen.append((order_id, None if order is None else order.status))

    spin = Engine(RedisBroker.from_url(redis_server.url), namespace=f"sa-{uuid.uuid4().hex[:8]}")
    spin.attach_tasks(tasks)
    return spin, seen


def _sent(spin: Engine) -> int:
    stats = spin.broker.queue_stats("spinach")
    return stats.ready + stats.delayed


def _run(spin: Engine) -> None:
    spin.start_workers(number=2, stop_when_queue_empty=True)


def test_a_job_is_sent_at_commit_and_its_worker_reads_the_committed_row(
    app: Any, database: Any
) -> None:
    spin, seen = app
    with Session(database) as session, session.begin():
        order = Order(status="paid")
        session.add(order)
        session.flush()
        after_commit(spin, session).schedule("read_order", order.id)
        assert _sent(spin) == 0  # not before the commit
        order_id = order.id
    assert _sent(spin) == 1
    _run(spin)
    assert seen == [(order_id, "paid")]


def test_a_rolled_back_transaction_sends_nothing(app: Any, database: Any) -> None:
    spin, _ = app
    with Session(database) as session:
        order = Order(status="paid")
        session.add(order)
        session.flush()
        after_commit(spin, session).schedule("read_order", order.id)
        session.rollback()
        with pytest.raises(RuntimeError), session.begin():
            session.add(Order(status="paid"))
            after_commit(spin, session).schedule("read_order", 0)
            raise RuntimeError("the request failed")
        session.commit()  # a later commit of the same session does not resurrect them
    assert _sent(spin) == 0


def test_a_rolled_back_savepoint_drops_only_its_own_jobs(app: Any, database: Any) -> None:
    spin, seen = app
    with Session(database) as session:
        jobs = after_commit(spin, session)
        first = Order(status="first")
        session.add(first)
        session.flush()
        jobs.schedule("read_order", first.id)
        savepoint = session.begin_nested()
        jobs.schedule("read_order", -1)  # rolled back with its savepoint
        savepoint.rollback()
        released = session.begin_nested()
        kept = Order(status="kept")
        session.add(kept)
        session.flush()
        jobs.schedule("read_order", kept.id)  # its savepoint is released: it waits for the commit
        released.commit()
        assert _sent(spin) == 0
        session.commit()
        ids = (first.id, kept.id)
    _run(spin)
    assert sorted(seen) == [(ids[0], "first"), (ids[1], "kept")]


def test_jobs_scheduled_outside_a_transaction_are_sent_at_once(app: Any, database: Any) -> None:
    spin, _ = app
    with Session(database) as session:
        assert not session.in_transaction()
        after_commit(spin, session).schedule("read_order", 1)
        assert _sent(spin) == 1


def test_each_transaction_of_a_session_sends_its_own_jobs_at_its_own_commit(
    app: Any, database: Any
) -> None:
    spin, _ = app
    with Session(database) as session:
        jobs = after_commit(spin, session)
        with session.begin():
            jobs.schedule_in("read_order", timedelta(hours=1), 1)
        assert _sent(spin) == 1
        with session.begin():
            batch = Batch()
            batch.schedule("read_order", 2)
            batch.schedule("read_order", 3)
            jobs.schedule_batch(batch)
            assert _sent(spin) == 1
        assert _sent(spin) == 3


def test_bad_arguments_raise_inside_the_transaction(app: Any, database: Any) -> None:
    spin, _ = app
    with Session(database) as session:
        with pytest.raises(InvalidJobSignatureError), session.begin():
            after_commit(spin, session).schedule("read_order")  # order_id missing
        with pytest.raises(InvalidArgumentsError), session.begin():
            after_commit(spin, session).schedule("read_order", {1, 2})  # a set is no JSON
    assert _sent(spin) == 0


def test_a_job_with_options_is_checked_at_once_and_sent_at_the_commit(
    app: Any, database: Any
) -> None:
    spin, _ = app
    with Session(database) as session:
        jobs = after_commit(spin, session)
        with pytest.raises(ValueError, match="need a unique key"), session.begin():
            jobs.schedule_with("read_order", (1,), debounce=True)  # refused inside it
        with session.begin():
            jobs.schedule_with("read_order", (1,), delay=3600, unique_key="order-1")
            jobs.schedule_with("read_order", (1,), delay=3600, unique_key="order-1")
            assert _sent(spin) == 0
        assert _sent(spin) == 1  # the second one was a duplicate of the first
