"""Passwords, ACL users confined to a namespace, TLS, and credentials kept out of logs."""

import io
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from helpers import Ledger
from redis_server import RedisServer
from redis_topologies import SentinelSet, make_certificates

from spinach import CancelResult, Engine, JobCancelled, RedisBroker, Tasks
from spinach.acl import acl_rules
from spinach.brokers.redis import _redact
from spinach.cli import main
from spinach.exc import BrokerAuthError, BrokerConnectionError
from spinach.job import JobStatus
from spinach.keys import cancel_channel

pytestmark = [pytest.mark.redis, pytest.mark.topology]


@pytest.fixture
def acl_server() -> Iterator[RedisServer]:
    server = RedisServer(["--requirepass", "admin-secret"])
    server.client_options = {"password": "admin-secret"}
    server.start()
    admin = server.client()
    for user, namespace in (("shop-web", "shop"), ("shop-worker", "shop")):
        admin.execute_command(
            "ACL", "SETUSER", user, "on", f">{user}-pass", *acl_rules(namespace).split()
        )
    yield server
    server.cleanup()


def _engine(url: str, namespace: str, ledger: Ledger) -> Engine:
    spin = Engine(RedisBroker.from_url(url), namespace=namespace)
    tasks = Tasks()
    tasks.add(lambda i: ledger.add(i), name="job")
    spin.attach_tasks(tasks)
    return spin


def test_acl_users_confined_to_a_namespace_run_it_and_cannot_touch_another(
    acl_server: RedisServer, ledger: Ledger
) -> None:
    base = f"127.0.0.1:{acl_server.port}/0"
    web = _engine(f"redis://shop-web:shop-web-pass@{base}", "shop", ledger)
    for i in range(5):
        web.schedule("job", i)
    worker = _engine(f"redis://shop-worker:shop-worker-pass@{base}", "shop", ledger)
    worker.start_workers(number=2, block=True, stop_when_queue_empty=True)
    assert sorted(ledger.entries) == list(range(5))

    intruder = _engine(f"redis://shop-web:shop-web-pass@{base}", "billing", ledger)
    with pytest.raises(redis.exceptions.NoPermissionError):
        intruder.schedule("job", 99)
    with pytest.raises(redis.exceptions.NoPermissionError):
        redis.Redis.from_url(f"redis://shop-web:shop-web-pass@{base}").get("cache:anything")


def test_acl_users_cancel_running_jobs_on_their_namespace_s_channel_only(
    acl_server: RedisServer,
) -> None:
    base = f"127.0.0.1:{acl_server.port}/0"
    started, seen = threading.Event(), []
    tasks = Tasks()

    @tasks.task(name="long")
    def long() -> None:
        started.set()
        try:
            while True:
                time.sleep(0.005)
        except JobCancelled:
            seen.append("stopped")
            raise

    web = Engine(RedisBroker.from_url(f"redis://shop-web:shop-web-pass@{base}"), namespace="shop")
    web.attach_tasks(tasks)
    worker = Engine(
        RedisBroker.from_url(f"redis://shop-worker:shop-worker-pass@{base}"), namespace="shop"
    )
    worker.attach_tasks(tasks)
    job = web.schedule("long")
    worker.start_workers(number=1, block=False)
    try:
        assert started.wait(10)
        assert web.cancel(job) is CancelResult.REQUESTED  # PUBLISH allowed on its channel
        deadline = time.monotonic() + 10
        while web.get_job(job).status is not JobStatus.CANCELLED:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the worker never stopped the job"
            time.sleep(0.01)
        assert seen == ["stopped"]
    finally:
        worker.stop_workers()
    confined = redis.Redis.from_url(f"redis://shop-web:shop-web-pass@{base}")
    with pytest.raises(redis.exceptions.NoPermissionError):
        confined.publish(cancel_channel("billing"), "someone-else-s-job")


def test_a_wrong_password_fails_fast_without_revealing_it(
    acl_server: RedisServer, caplog: pytest.LogCaptureFixture, ledger: Ledger
) -> None:
    url = f"redis://shop-web:not-the-password@127.0.0.1:{acl_server.port}/0"
    web = _engine(url, "shop", ledger)
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(BrokerAuthError) as info,
    ):
        web.schedule("job", 1)
    assert "not-the-password" not in str(info.value)
    assert "not-the-password" not in caplog.text
    assert _redact(url) == f"redis://shop-web:***@127.0.0.1:{acl_server.port}/0"


@pytest.fixture
def tls_server() -> Iterator[tuple[RedisServer, dict[str, str]]]:
    directory = tempfile.mkdtemp(prefix="spinach-tls-")
    certs = make_certificates(directory)
    server = RedisServer()  # its port serves TLS; plain TCP is turned off
    server.extra_args = [
        "--tls-port", str(server.port), "--port", "0",
        "--tls-cert-file", certs["server.crt"], "--tls-key-file", certs["server.key"],
        "--tls-ca-cert-file", certs["ca.crt"], "--tls-auth-clients", "optional",
    ]  # fmt: skip
    server.client_options = {"ssl": True, "ssl_ca_certs": certs["ca.crt"]}
    server.start()
    yield server, certs
    server.cleanup()
    for path in certs.values():
        os.unlink(path)
    os.rmdir(directory)


def test_rediss_with_a_ca_and_with_client_certificates(
    tls_server: tuple[RedisServer, dict[str, str]], ledger: Ledger
) -> None:
    server, certs = tls_server
    url = f"rediss://127.0.0.1:{server.port}/0"
    web = Engine(RedisBroker.from_url(url, ssl_ca_certs=certs["ca.crt"]), namespace="tls")
    worker = Engine(
        RedisBroker.from_url(
            url, ssl_ca_certs=certs["ca.crt"], ssl_certfile=certs["client.crt"],
            ssl_keyfile=certs["client.key"],
        ),
        namespace="tls",
    )  # fmt: skip
    untrusted = Engine(RedisBroker.from_url(url, enqueue_job_max_retries=0), namespace="tls")
    for engine in (web, worker, untrusted):
        tasks = Tasks()
        tasks.add(lambda i: ledger.add(i), name="job")
        engine.attach_tasks(tasks)
    web.schedule("job", 1)
    worker.start_workers(number=1, block=True, stop_when_queue_empty=True)
    assert ledger.entries == [1]
    with pytest.raises(BrokerConnectionError, match="certificate"):  # the CA is not trusted
        untrusted.schedule("job", 2)


@pytest.fixture(scope="module")
def plain_server() -> Iterator[RedisServer]:
    """A redis-server speaking plain TCP only."""
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.mark.parametrize("scheme", ["rediss", "rediss+cluster"])
def test_tls_to_a_plain_port_fails_within_the_connect_timeout_saying_why(
    plain_server: RedisServer, scheme: str
) -> None:
    # The plain server reads the TLS hello as the start of a command and waits for the rest:
    # without a bound on the handshake, both sides would wait for the 30 s read timeout.
    url = f"{scheme}://127.0.0.1:{plain_server.port}"
    with pytest.raises((redis.RedisError, redis.exceptions.RedisClusterException)) as info:
        # A cluster client connects at once, to discover the nodes; the others at first use.
        broker = RedisBroker.from_url(url, socket_connect_timeout=0.5)
        try:
            broker.ping()
        finally:
            broker.close()
    assert f"No TLS connection to 127.0.0.1:{plain_server.port} within 0.5s" in str(info.value)
    assert "does not serve TLS" in str(info.value)


def test_tls_to_a_plain_primary_behind_sentinel_fails_within_the_connect_timeout() -> None:
    group = SentinelSet()
    try:
        group.start()
        url = group.url.replace("redis+sentinel://", "rediss+sentinel://")
        broker = RedisBroker.from_url(url, socket_connect_timeout=0.5)
        try:
            with pytest.raises(redis.RedisError, match="does not serve TLS"):
                broker.ping()
        finally:
            broker.close()
    finally:
        group.cleanup()


def test_the_spinach_command_given_tls_to_a_plain_port_exits_3_saying_why(
    plain_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"rediss://127.0.0.1:{plain_server.port}/0?socket_connect_timeout=0.5"
    assert main(["--redis-url", url, "status"], out=io.StringIO()) == 3
    assert "does not serve TLS" in capsys.readouterr().err


def test_an_unknown_namespace_for_a_user_refused_scan_says_the_list_is_not_available(
    acl_server: RedisServer,
) -> None:
    acl_server.client().execute_command(
        "ACL", "SETUSER", "no-scan", "on", ">no-scan-pass", "~*", "+@all", "-scan"
    )
    url = f"redis://no-scan:no-scan-pass@127.0.0.1:{acl_server.port}/0"
    out = io.StringIO()
    assert main(["--redis-url", url, "--namespace", "nope", "status"], out=out) == 1
    assert "No namespace 'nope'" in out.getvalue()
    assert "Namespaces there: not listed, SCAN refused" in out.getvalue()
