"""Passwords, ACL users confined to a namespace, TLS, and credentials kept out of logs."""

import logging
import os
import tempfile
from collections.abc import Iterator

import pytest
import redis
from helpers import Ledger
from redis_server import RedisServer
from redis_topologies import make_certificates

from spinach import Engine, RedisBroker, Tasks
from spinach.acl import acl_rules
from spinach.brokers.redis import _redact
from spinach.exc import BrokerAuthError, BrokerConnectionError

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
