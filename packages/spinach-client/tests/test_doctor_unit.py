"""The judgements of `spinach doctor`, without a Redis server or a network."""

from types import SimpleNamespace
from typing import Any

import pytest
import redis
from redis.exceptions import NoPermissionError

from spinach import Engine, MemoryBroker
from spinach.brokers.base import Broker
from spinach.doctor import (
    Check,
    Verdict,
    clock_finding,
    diagnose,
    exit_code,
    host_scope,
    retries_finding,
    sample_keys,
    tls_finding,
)
from spinach.protocol import WorkerInfo


def check(verdict: Verdict) -> Check:
    return Check("aof", verdict, "observed", "")


def test_only_a_failed_check_makes_the_exit_code_one() -> None:
    assert exit_code([]) == 0
    assert exit_code([check(Verdict.PASS), check(Verdict.WARN), check(Verdict.UNKNOWN)]) == 0
    assert exit_code([check(Verdict.PASS), check(Verdict.FAIL)]) == 1


@pytest.mark.parametrize(
    ("host", "scope"),
    [
        ("localhost", "loopback"),
        ("LOCALHOST", "loopback"),
        ("redis.localhost", "loopback"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("[::1]", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.7", "private"),
        ("fe80::1%eth0", "private"),
        ("8.8.8.8", "public"),
        ("2001:4860:4860::8888", "public"),
    ],
)
def test_hosts_are_told_apart_as_loopback_private_or_public(host: str, scope: str) -> None:
    assert host_scope(host) == scope


def test_plain_tcp_passes_on_loopback_warns_on_a_private_network_and_fails_in_public() -> None:
    assert tls_finding(redis.Connection, {"host": "127.0.0.1"})[0] is Verdict.PASS
    assert tls_finding(redis.Connection, {"host": "10.0.0.5"})[0] is Verdict.WARN
    verdict, detail, advice = tls_finding(redis.Connection, {"host": "8.8.8.8"})
    assert verdict is Verdict.FAIL
    assert "8.8.8.8" in detail and "rediss://" in advice


def test_tls_passes_unless_it_does_not_verify_the_server() -> None:
    assert tls_finding(redis.SSLConnection, {"host": "8.8.8.8"}) == (
        Verdict.PASS, "TLS to 8.8.8.8", "",
    )  # fmt: skip
    unverified = tls_finding(redis.SSLConnection, {"host": "8.8.8.8", "ssl_cert_reqs": "none"})
    assert unverified[0] is Verdict.WARN
    assert "ssl_ca_certs" in unverified[2]


def test_a_unix_socket_passes_the_transport_check() -> None:
    finding = tls_finding(redis.UnixDomainSocketConnection, {"path": "/run/redis.sock"})
    assert finding[0] is Verdict.PASS


def test_clock_skew_warns_only_beyond_a_second_the_round_trip_cannot_explain() -> None:
    assert clock_finding(0.2, 0.001)[0] is Verdict.PASS
    assert clock_finding(1.2, 0.5)[0] is Verdict.PASS  # Redis may have read it 0.25 s later
    verdict, detail, advice = clock_finding(-5.0, 0.001)
    assert verdict is Verdict.WARN
    assert detail.startswith("this host's clock is 5.000 s ahead of Redis's")
    assert "NTP" in advice
    assert "behind" in clock_finding(1.5, 0.01)[1]


def worker(host: str, **tasks: int | None) -> WorkerInfo:
    return WorkerInfo(id=host, host=host, pid=7, threads=4, tasks=tasks)


def test_retries_lists_at_most_once_and_retried_tasks_when_workers_agree() -> None:
    workers = [worker("a", charge=0, mail=3, sync=None), worker("b", charge=0, mail=3, sync=None)]
    verdict, detail, advice = retries_finding(workers)
    assert verdict is Verdict.PASS
    assert detail == "at most once (max_retries=0): charge; retried: mail (3), sync (unlimited)"
    assert advice == ""


def test_retries_warns_when_two_live_workers_declare_different_budgets() -> None:
    verdict, detail, _ = retries_finding([worker("a", charge=0), worker("b", charge=None)])
    assert verdict is Verdict.WARN
    assert "task 'charge': 0 (a pid 7), unlimited (b pid 7)" in detail


def test_retries_is_unknown_without_workers_or_with_workers_that_do_not_declare_tasks() -> None:
    assert retries_finding([])[0] is Verdict.UNKNOWN
    old = WorkerInfo(id="a", host="a", pid=1, threads=2)
    verdict, detail, _ = retries_finding([old])
    assert verdict is Verdict.UNKNOWN
    assert "1 worker(s) declare no task" in detail
    assert retries_finding([old, worker("b", charge=0)])[0] is Verdict.PASS


def test_the_key_sample_counts_keys_outside_spinach_and_their_ttls() -> None:
    client = MemoryBroker().client
    client.set("spinach:{app/default}:schema", "1")
    client.mset({f"session:{i}": "x" for i in range(30)})
    for i in range(10):
        client.set(f"cache:{i}", "x", ex=600)
    assert sample_keys(client) == (41, 40, 10)
    sampled, foreign, _ = sample_keys(client, limit=5)
    assert sampled == 5 and foreign <= 5


def test_the_embedded_broker_is_diagnosed_without_a_server() -> None:
    broker = MemoryBroker()
    Engine(broker, namespace="unit")
    checks = {c.name: c for c in diagnose(broker, ["default"])}
    assert checks["aof"].verdict is Verdict.FAIL
    assert checks["auth"].verdict is checks["tls"].verdict is Verdict.PASS
    assert checks["clock"].verdict is checks["schema"].verdict is Verdict.PASS
    assert checks["workers"].verdict is Verdict.WARN
    assert checks["retries"].verdict is Verdict.UNKNOWN


def test_a_broker_without_a_namespace_or_queues_gets_unknowns_not_an_exception() -> None:
    checks = diagnose(MemoryBroker(), ["default"])
    schema = next(c for c in checks if c.name == "schema")
    assert schema.verdict is Verdict.UNKNOWN
    assert "namespace" in schema.detail
    no_queue = [c for c in diagnose(MemoryBroker(), []) if c.name == "workers"]
    assert [c.verdict for c in no_queue] == [Verdict.UNKNOWN]


class RefusingClient:
    """A client whose user may run nothing, on a socket that does not exist (no network)."""

    connection_pool = SimpleNamespace(
        connection_class=redis.UnixDomainSocketConnection,
        connection_kwargs={"path": "/nonexistent/spinach-doctor.sock", "db": 0},
    )

    def get_connection_kwargs(self) -> dict[str, Any]:
        return {}

    def __getattr__(self, command: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise NoPermissionError(f"this user has no permissions to run the '{command}' command")

        return refuse


def test_a_redis_that_refuses_everything_gives_unknowns_never_an_exception() -> None:
    broker = Broker(RefusingClient())  # type: ignore[arg-type]
    Engine(broker, namespace="refused")
    checks = diagnose(broker, ["default"])
    verdicts = {c.name: c.verdict for c in checks}
    assert verdicts.pop("tls") is Verdict.PASS  # a unix socket: known without asking Redis
    assert set(verdicts.values()) == {Verdict.UNKNOWN}
    assert all(c.advice for c in checks if c.verdict is Verdict.UNKNOWN)
    aof = next(c for c in checks if c.name == "aof")
    assert "config_get" in aof.detail and "info" in aof.detail
    assert exit_code(checks) == 0
