"""`spinach doctor`'s checks against real redis-server processes configured right and wrong."""

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis_server import RedisServer
from redis_topologies import RedisClusterSet, make_certificates

from spinach import Engine, MemoryBroker, RedisBroker
from spinach.acl import acl_rules
from spinach.brokers.base import Broker
from spinach.doctor import Check, Verdict, diagnose, exit_code
from spinach.keys import queue_keys
from spinach.protocol import WorkerInfo

pytestmark = pytest.mark.redis

PASSWORD = "a-long-random-password-for-doctor-tests"
QUEUE = "default"


def by_name(checks: Sequence[Check]) -> dict[str, Check]:
    """The checks by name (one queue only, so that every name is unique)."""
    found = {check.name: check for check in checks}
    assert len(found) == len(checks), checks
    return found


def server(*args: str, password: str | None = None) -> RedisServer:
    started = RedisServer(list(args) + (["--requirepass", password] if password else []))
    if password:
        started.client_options = {"password": password}
    started.start(attempts=3)
    return started


@pytest.fixture(scope="module")
def production_server() -> Iterator[RedisServer]:
    """Configured as the production page says: AOF, everysec, noeviction, a password."""
    configured = server(
        "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
        password=PASSWORD,
    )  # fmt: skip
    yield configured
    configured.cleanup()


@pytest.fixture(scope="module")
def managed_server() -> Iterator[RedisServer]:
    """Like a managed Redis: CONFIG renamed away, AOF on, the provider's volatile-lru policy."""
    configured = server(
        "--appendonly", "yes", "--maxmemory-policy", "volatile-lru",
        "--rename-command", "CONFIG", f"config-{uuid.uuid4().hex}",
    )  # fmt: skip
    yield configured
    configured.cleanup()


@pytest.fixture
def fresh_server() -> Iterator[RedisServer]:
    """A server of its own, empty, for tests that look at the whole keyspace."""
    configured = server("--appendonly", "yes", password=PASSWORD)
    yield configured
    configured.cleanup()


@pytest.fixture
def connect() -> Iterator[Callable[..., Broker]]:
    """Return a factory of brokers on fresh namespaces; closes them after the test."""
    made: list[Broker] = []

    def factory(url: str, namespace: str | None = None, **options: Any) -> Broker:
        broker = RedisBroker.from_url(url, **options)
        Engine(broker, namespace=namespace or f"doctor-{uuid.uuid4().hex[:8]}")
        made.append(broker)
        return broker

    yield factory
    for broker in made:
        broker.close()


def url(server: RedisServer, user: str = "", password: str = "") -> str:
    credentials = f"{user}:{password}@" if password else ""
    return f"redis://{credentials}127.0.0.1:{server.port}/0"


def describe(info: dict[str, Any] | None = None, **tasks: int | None) -> WorkerInfo:
    """A worker registry entry like spinach-worker's heartbeat writes."""
    entry: dict[str, Any] = {"host": "web-1", "pid": 4242, "queue": QUEUE, "threads": 4}
    return WorkerInfo(id="w", tasks=tasks, **{**entry, **(info or {})})


def test_a_server_configured_for_production_passes_persistence_eviction_and_auth(
    production_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    checks = by_name(diagnose(connect(url(production_server, "", PASSWORD)), [QUEUE]))
    for name in ("aof", "appendfsync", "eviction", "auth", "tls", "clock", "cache", "schema"):
        assert checks[name].verdict is Verdict.PASS, checks[name]
        assert checks[name].advice == ""
    assert "everysec" in checks["appendfsync"].detail
    assert checks["workers"].verdict is Verdict.WARN  # nobody runs a worker here
    assert exit_code(list(checks.values())) == 0


def test_aof_off_fails_and_makes_the_exit_code_one(
    redis_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    checks = diagnose(connect(redis_server.url), [QUEUE])
    aof = by_name(checks)["aof"]
    assert aof.verdict is Verdict.FAIL
    assert "appendonly yes" in aof.advice
    assert exit_code(checks) == 1


def test_a_server_without_a_password_fails_auth(
    redis_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    auth = by_name(diagnose(connect(redis_server.url), [QUEUE]))["auth"]
    assert auth.verdict is Verdict.FAIL
    assert "PONG" in auth.detail
    assert "requirepass" in auth.advice


def test_a_short_password_is_reported_even_though_the_server_requires_one(
    production_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    with production_server.client() as admin:
        admin.execute_command("ACL", "SETUSER", "shorty", "on", ">abc123", "~*", "&*", "+@all")
    auth = by_name(diagnose(connect(url(production_server, "shorty", "abc123")), [QUEUE]))["auth"]
    assert auth.verdict is Verdict.WARN
    assert "6 characters" in auth.detail
    assert "abc123" not in auth.detail + auth.advice


def test_an_eviction_policy_fails_eviction_and_makes_the_server_look_like_a_cache(
    managed_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    checks = by_name(diagnose(connect(managed_server.url), [QUEUE]))
    assert checks["eviction"].verdict is Verdict.FAIL
    assert "volatile-lru" in checks["eviction"].detail
    assert "noeviction" in checks["eviction"].advice
    assert checks["cache"].verdict is Verdict.WARN
    assert "volatile-lru" in checks["cache"].detail


def test_a_managed_redis_without_config_is_read_through_info_and_the_rest_is_unknown(
    managed_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    checks = by_name(diagnose(connect(managed_server.url), [QUEUE]))
    assert checks["aof"].verdict is Verdict.PASS
    assert "INFO persistence" in checks["aof"].detail
    assert "INFO memory" in checks["eviction"].detail
    assert checks["appendfsync"].verdict is Verdict.UNKNOWN
    assert "unknown command" in checks["appendfsync"].detail
    assert "appendfsync everysec" in checks["appendfsync"].advice


def test_an_acl_user_denied_config_gets_the_settings_that_info_tells(
    production_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    with production_server.client() as admin:
        admin.execute_command(
            "ACL", "SETUSER", "ops", "on", f">{PASSWORD}", "~*", "&*", "+@all", "-config"
        )
    checks = by_name(diagnose(connect(url(production_server, "ops", PASSWORD)), [QUEUE]))
    assert checks["aof"].verdict is Verdict.PASS
    assert checks["eviction"].verdict is Verdict.PASS
    assert checks["appendfsync"].verdict is Verdict.UNKNOWN
    assert "config|get" in checks["appendfsync"].detail
    assert checks["auth"].verdict is Verdict.PASS


def test_a_user_confined_to_its_namespace_gets_unknowns_not_a_crash(
    fresh_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    with fresh_server.client() as admin:
        rules = acl_rules("shop").split()
        admin.execute_command("ACL", "SETUSER", "shop", "on", f">{PASSWORD}", *rules)
        admin.set("cache:elsewhere", "x", ex=600)  # a key this user may not look at
    broker = connect(url(fresh_server, "shop", PASSWORD), namespace="shop")
    checks = by_name(diagnose(broker, [QUEUE]))
    for name in ("aof", "appendfsync", "eviction", "cache"):
        assert checks[name].verdict is Verdict.UNKNOWN, checks[name]
        assert checks[name].advice
    assert "refused" in checks["aof"].detail
    assert "could not read" in checks["cache"].detail
    for name in ("auth", "tls", "clock", "schema"):
        assert checks[name].verdict is Verdict.PASS, checks[name]
    assert checks["workers"].verdict is Verdict.WARN


def test_a_clock_five_seconds_ahead_of_redis_warns(
    redis_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    broker = connect(redis_server.url)
    clock = by_name(diagnose(broker, [QUEUE], clock=lambda: time.time() + 5))["clock"]
    assert clock.verdict is Verdict.WARN
    assert "ahead of" in clock.detail
    assert "NTP" in clock.advice
    assert by_name(diagnose(broker, [QUEUE]))["clock"].verdict is Verdict.PASS


def test_data_written_with_another_schema_fails(
    redis_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    broker = connect(redis_server.url)
    broker.client.set(queue_keys(broker.namespace, QUEUE).schema, "999")
    schema = by_name(diagnose(broker, [QUEUE]))["schema"]
    assert schema.verdict is Verdict.FAIL
    assert "999" in schema.detail and repr(QUEUE) in schema.detail
    assert "spinach-lua" in schema.advice


def test_a_queue_with_a_live_worker_passes_and_one_without_warns(
    redis_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    broker = connect(redis_server.url)
    broker.register_worker(QUEUE, "w1", 10_000, describe(send_mail=3, charge=0))
    checks = diagnose(broker, [QUEUE, "reports"])
    workers = {check.detail: check.verdict for check in checks if check.name == "workers"}
    assert workers == {
        "queue 'default': 1 live worker(s) on 1 host(s), 4 threads": Verdict.PASS,
        "queue 'reports': no live worker: its jobs wait": Verdict.WARN,
    }
    retries = [check for check in checks if check.name == "retries"]
    assert [check.verdict for check in retries] == [Verdict.PASS, Verdict.UNKNOWN]
    assert "at most once (max_retries=0): charge" in retries[0].detail
    assert "send_mail (3)" in retries[0].detail


def test_two_workers_declaring_different_max_retries_for_a_task_warn(
    redis_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    broker = connect(redis_server.url)
    broker.register_worker(QUEUE, "w1", 10_000, describe(charge=0, report=None))
    broker.register_worker(QUEUE, "w2", 10_000, describe({"host": "web-2"}, charge=3, report=None))
    retries = by_name(diagnose(broker, [QUEUE]))["retries"]
    assert retries.verdict is Verdict.WARN
    assert "'charge': 0 (web-1 pid 4242), 3 (web-2 pid 4242)" in retries.detail
    assert "report" not in retries.detail  # they agree on it
    assert retries.advice


def test_workers_that_declare_no_task_are_counted_not_judged(
    redis_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    broker = connect(redis_server.url)
    idle = WorkerInfo(id="idle", host="old-1", pid=1, queue=QUEUE, threads=2)  # no task here
    broker.register_worker(QUEUE, "idle", 10_000, idle)
    checks = by_name(diagnose(broker, [QUEUE]))
    assert checks["workers"].verdict is Verdict.PASS
    assert checks["retries"].verdict is Verdict.UNKNOWN
    assert "1 worker(s) declare no task" in checks["retries"].detail
    broker.register_worker(QUEUE, "new", 10_000, describe(charge=0))
    retries = by_name(diagnose(broker, [QUEUE]))["retries"]
    assert retries.verdict is Verdict.PASS
    assert "1 worker(s) declare no task" in retries.detail


def test_keys_with_ttls_outside_spinach_make_the_server_look_like_a_cache(
    fresh_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    admin = fresh_server.client()
    admin.mset({f"session:{i}": "x" for i in range(200)})
    broker = connect(url(fresh_server, "", PASSWORD))
    broker.register_worker(QUEUE, "w1", 10_000, describe(charge=0))
    cache = by_name(diagnose(broker, [QUEUE]))["cache"]
    assert cache.verdict is Verdict.PASS  # other data, kept without TTLs: not a cache
    assert (
        "200 of " in cache.detail and "keys of db0 are not Spinach's, 0 with a TTL" in cache.detail
    )

    pipe = admin.pipeline()
    for i in range(100):
        pipe.set(f"cache:page:{i}", "x", ex=600)
    pipe.execute()
    admin.close()
    cache = by_name(diagnose(broker, [QUEUE]))["cache"]
    assert cache.verdict is Verdict.WARN
    assert "100 of them with a TTL" in cache.detail
    assert "second Redis" in cache.advice


def test_a_cache_in_another_database_of_the_server_is_noticed(
    fresh_server: RedisServer, connect: Callable[..., Broker]
) -> None:
    other_db = redis.Redis(port=fresh_server.port, db=3, password=PASSWORD)
    for i in range(20):
        other_db.set(f"fragment:{i}", "x", ex=600)
    other_db.close()
    cache = by_name(diagnose(connect(url(fresh_server, "", PASSWORD)), [QUEUE]))["cache"]
    assert cache.verdict is Verdict.WARN
    assert "db3 holds 20 keys, 20 with a TTL" in cache.detail


def test_an_unreachable_redis_makes_every_server_check_unknown_without_raising(
    connect: Callable[..., Broker],
) -> None:
    gone = server()
    gone.cleanup()
    client = redis.Redis(port=gone.port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    broker = Broker(client)
    Engine(broker, namespace="gone")
    checks = by_name(diagnose(broker, [QUEUE]))
    assert checks["tls"].verdict is Verdict.PASS  # needs no connection: loopback
    for name in ("aof", "appendfsync", "eviction", "auth", "clock", "cache", "schema", "workers"):
        assert checks[name].verdict is Verdict.UNKNOWN, checks[name]
        assert "could not" in checks[name].detail
    assert exit_code(list(checks.values())) == 0
    client.close()


def test_the_embedded_broker_gets_sensible_verdicts() -> None:
    broker = MemoryBroker()
    Engine(broker, namespace="embedded")
    broker.register_worker(QUEUE, "w1", 10_000, describe(charge=0))
    checks = by_name(diagnose(broker, [QUEUE]))
    assert checks["aof"].verdict is Verdict.FAIL  # its jobs die with the process
    for name in ("auth", "tls", "clock", "schema", "workers", "retries"):
        assert checks[name].verdict is Verdict.PASS, checks[name]
    for name in ("appendfsync", "eviction", "cache"):
        assert checks[name].verdict is Verdict.UNKNOWN, checks[name]


@pytest.mark.topology
def test_over_tls_the_password_probe_speaks_tls_and_the_transport_passes(
    connect: Callable[..., Broker],
) -> None:
    directory = tempfile.mkdtemp(prefix="spinach-doctor-tls-")
    certs = make_certificates(directory)
    tls = RedisServer(["--requirepass", PASSWORD])
    tls.extra_args += [
        "--tls-port", str(tls.port), "--port", "0", "--tls-auth-clients", "no",
        "--tls-cert-file", certs["server.crt"], "--tls-key-file", certs["server.key"],
        "--tls-ca-cert-file", certs["ca.crt"],
    ]  # fmt: skip
    tls.client_options = {"ssl": True, "ssl_ca_certs": certs["ca.crt"], "password": PASSWORD}
    try:
        tls.start()
        address = f"rediss://:{PASSWORD}@127.0.0.1:{tls.port}/0"
        checks = by_name(diagnose(connect(address, ssl_ca_certs=certs["ca.crt"]), [QUEUE]))
        assert checks["tls"].verdict is Verdict.PASS
        assert checks["tls"].detail == "TLS to 127.0.0.1"
        assert checks["auth"].verdict is Verdict.PASS  # NOAUTH, over a TLS handshake
        unverified = connect(address, ssl_cert_reqs="none")
        assert by_name(diagnose(unverified, [QUEUE]))["tls"].verdict is Verdict.WARN
    finally:
        tls.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.cluster
def test_on_a_cluster_every_primary_is_checked(
    redis_cluster: RedisClusterSet, connect: Callable[..., Broker]
) -> None:
    broker = connect(redis_cluster.url)
    checks = by_name(diagnose(broker, [QUEUE]))
    # RedisCluster.close() leaves the nodes' own pools connected: close them here.
    for node in broker.client.get_primaries():
        broker.client.get_redis_connection(node).connection_pool.disconnect()
    assert checks["aof"].verdict is Verdict.FAIL
    assert "on each of the 3 primaries" in checks["aof"].detail
    assert checks["eviction"].verdict is Verdict.PASS
    assert checks["auth"].verdict is Verdict.FAIL
    assert checks["clock"].verdict is Verdict.PASS
    assert checks["schema"].verdict is Verdict.PASS
    assert checks["cache"].verdict in (Verdict.PASS, Verdict.WARN)  # shared with other tests
