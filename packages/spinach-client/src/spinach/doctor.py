"""The checks behind `spinach doctor`: the seed's production checklist, on a live deployment.

Each check observes one item and says pass, warn, fail or unknown, with what to do about it.
Nothing here writes to Redis: settings come from CONFIG GET (or INFO when CONFIG is refused),
the cache check reads a bounded SCAN sample, and the password check opens its own connection
without credentials. No Redis error escapes `diagnose`: an item that a managed Redis or an ACL
user will not tell is reported unknown, with the reason and how to check it by hand.
"""

import enum
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import AuthenticationError, NoPermissionError, RedisError, ResponseError
from redis.retry import Retry

from spinach.brokers.base import Broker
from spinach.keys import PREFIX, queue_keys
from spinach.protocol import WorkerInfo
from spinach_lua import SCHEMA_VERSION

__all__ = ["Check", "Verdict", "diagnose", "exit_code"]

logger = logging.getLogger(__name__)

#: Skew between this host's clock and Redis's above which the clock check warns, in seconds.
MAX_CLOCK_SKEW = 1.0

#: Most keys the cache check looks at per server. A larger sample sees rarer cache keys but
#: costs the server more SCAN work; 1,000 keys is a few milliseconds.
SAMPLE_KEYS = 1000

#: Share of TTL-bearing keys, among keys that are not Spinach's, from which a keyspace looks
#: like a cache. Spinach's own short-lived keys (enqueue tokens, wake-up lists) are not counted.
CACHE_TTL_SHARE = 0.1

#: Passwords shorter than this are reported as short.
MIN_PASSWORD_LENGTH = 16


class Verdict(enum.Enum):
    """What a check concluded."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    #: Redis would not tell (a forbidden command, an unreachable node): check it by hand.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Check:
    """One item of the production checklist, as observed."""

    #: Short id: aof, appendfsync, eviction, auth, tls, clock, cache, schema, workers, retries.
    name: str
    verdict: Verdict
    #: What was observed.
    detail: str
    #: What to do ("" on pass).
    advice: str


def exit_code(checks: Sequence[Check]) -> int:
    """Return 1 if any check failed, else 0 (warnings and unknowns do not fail a deployment)."""
    return 1 if any(check.verdict is Verdict.FAIL for check in checks) else 0


#: A check's outcome before it gets its name: verdict, detail, advice.
Finding = tuple[Verdict, str, str]

_SEVERITY = {Verdict.PASS: 0, Verdict.UNKNOWN: 1, Verdict.WARN: 2, Verdict.FAIL: 3}

#: The advice of an unknown verdict: how to check the item without doctor.
_BY_HAND = {
    "aof": "Check `appendonly yes` in Redis's configuration (a managed Redis: its persistence "
    "option), or run doctor as a user allowed CONFIG GET or INFO.",
    "appendfsync": "Check `appendfsync everysec` (or always) in Redis's configuration, or run "
    "doctor as a user allowed CONFIG GET.",
    "eviction": "Check `maxmemory-policy noeviction` in Redis's configuration (a managed Redis: "
    "its parameter group), or run doctor as a user allowed CONFIG GET or INFO.",
    "auth": "Check that Redis refuses clients without credentials.",
    "tls": "Check that connections leaving this host use rediss:// (TLS).",
    "clock": "Check that this host and the Redis server keep their clocks with NTP.",
    "cache": "Check that no application uses this Redis as a cache.",
    "schema": "Run the same spinach-lua version on every worker and every app that sends jobs.",
    "workers": "Check that workers of the queue run: `spinach-worker check <app>`.",
    "retries": "Review each task's max_retries: 0 for tasks that are not safe to run twice.",
}

#: What to do about each failing or dubious item.
_ADVICE = {
    "aof": "Turn AOF on: `appendonly yes` in redis.conf (and CONFIG SET appendonly yes to apply "
    "it now). Without it a crash loses every job since the last RDB snapshot, if any.",
    "aof_error": "Redis cannot write its AOF (disk full? permissions?): see the Redis log; a "
    "crash now loses the jobs written since the last successful write.",
    "appendfsync": "Set `appendfsync everysec` (a power loss costs at most about a second of "
    "writes) or `always` (nothing acknowledged is lost, at a throughput cost).",
    "eviction": "Set `maxmemory-policy noeviction`: a full Redis then refuses new jobs with "
    "BrokerFullError instead of deleting queued ones.",
    "auth": "Require credentials: `requirepass <a long random password>`, or ACL users "
    "(spinach.acl.acl_rules) and `ACL SETUSER default off`.",
    "auth_weak": "Use a long random password (`openssl rand -base64 32`): Redis checks passwords "
    "fast enough for a short one to be guessed.",
    "auth_default": "Turn the default user off (`ACL SETUSER default off`) or give it a password.",
    "tls": "Connect with rediss:// and a CA (ssl_ca_certs=...), or keep Redis off the Internet.",
    "tls_private": "Use rediss:// unless the network between here and Redis is trusted.",
    "tls_unverified": "Verify the server's certificate (ssl_ca_certs, ssl_cert_reqs='required'): "
    "otherwise a man in the middle can read and change every job.",
    "clock": "Run an NTP daemon (chrony, systemd-timesyncd) here and on the Redis server: "
    "Spinach schedules by Redis's clock, but job ages and logs use this host's.",
    "cache": "Keep a second Redis for caching (no persistence, an eviction policy): cache keys "
    "compete with jobs for memory, and a cache's eviction policy deletes jobs.",
    "schema": "Run the same spinach-lua version everywhere, or drain the queue with the version "
    "that wrote it first.",
    "workers": "Run spinach-worker for this queue under an init system that restarts it "
    "(systemd Restart=always, a Kubernetes Deployment).",
    "retries": "Deploy the same task declarations to every worker of the queue (finish the "
    "rollout, or restart stale workers): each job gets the budget of its sender's declaration.",
}


class _Unobservable(Exception):
    """Redis would not tell: the check is unknown, for the reason given."""


def diagnose(
    broker: Broker, queues: Sequence[str], *, clock: Callable[[], float] = time.time
) -> list[Check]:
    """Check the production checklist against the Redis of `broker` and the given queues.

    `clock` is this host's wall clock, compared to Redis's. Server settings are read on every
    primary of a cluster; each check then reports its worst node.
    """
    client = broker.client
    embedded = _is_embedded(client)
    nodes_error = ""
    try:
        nodes = _nodes(client)
    except Exception as e:
        logger.debug("Could not list the Redis servers", exc_info=True)
        nodes, nodes_error = [], _describe(e)
    server_checks: list[tuple[str, Callable[[_Node], Finding]]] = [
        ("aof", _aof),
        ("appendfsync", _appendfsync),
        ("eviction", _eviction),
        ("auth", _auth),
        ("tls", lambda node: tls_finding(*_endpoint(node.client))),
        ("clock", lambda node: _clock(node, clock)),
        ("cache", _cache),
    ]
    checks = []
    for name, observe in server_checks:
        if embedded and name in _EMBEDDED:
            checks.append(Check(name, *_EMBEDDED[name]))
        elif not nodes:
            detail = f"could not list the Redis servers: {nodes_error}"
            checks.append(Check(name, Verdict.UNKNOWN, detail, _BY_HAND[name]))
        else:
            checks.append(_across_nodes(name, nodes, observe))

    unique = list(dict.fromkeys(queues))
    if not unique:
        for name in ("schema", "workers", "retries"):
            detail = "no queue given"
            checks.append(Check(name, Verdict.UNKNOWN, detail, "Name the queues of your tasks."))
    for name, per_queue in (("schema", _schema), ("workers", _workers), ("retries", _retries)):
        checks += [_check(queue, name, per_queue, broker, queue) for queue in unique]
    return checks


# -- the servers to read settings from ------------------------------------------------------------


class _Node:
    """One Redis server: the broker's, or one primary of a cluster."""

    def __init__(self, label: str, client: Any) -> None:
        self.label = label
        self.client = client

    def info(self, section: str) -> dict[str, Any]:
        """INFO `section`, parsed; raises ResponseError if refused."""
        return dict(self.client.info(section))

    def setting(self, name: str, section: str = "", field: str = "") -> tuple[str, str]:
        """CONFIG GET `name`, or else INFO `section`'s `field`; _Unobservable if both refused.

        Returns the value and where it came from ("" for CONFIG GET), for the check's detail.
        """
        try:
            found = {_text(k): _text(v) for k, v in self.client.config_get(name).items()}
            if name not in found:
                raise ResponseError(f"this server has no {name!r} setting")
            return found[name], ""
        except ResponseError as config_error:
            refused = f"CONFIG GET {name} refused ({config_error})"
            if not section:
                raise _Unobservable(refused) from None
            try:
                info = self.info(section)
            except ResponseError as info_error:
                raise _Unobservable(f"{refused}; INFO {section} refused ({info_error})") from None
            if field not in info:
                raise _Unobservable(f"{refused}; INFO {section} has no {field}") from None
            return str(info[field]), f" (from INFO {section}: CONFIG GET is refused)"


def _nodes(client: Any) -> list[_Node]:
    if isinstance(client, RedisCluster):
        primaries: list[Any] = client.get_primaries()  # type: ignore[no-untyped-call]
        return [
            _Node(f"{node.host}:{node.port}", client.get_redis_connection(node))
            for node in primaries
        ]
    return [_Node("redis", client)]  # a label is only shown beside others


def _endpoint(client: Any) -> tuple[type, dict[str, Any]]:
    """The connection class and settings of `client`, its current primary's address included."""
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    master_address = getattr(pool, "get_master_address", None)  # behind Sentinel
    if master_address is not None:
        kwargs["host"], kwargs["port"] = master_address()
    return pool.connection_class, kwargs


def _is_embedded(client: Any) -> bool:
    """Whether `client` is fakeredis in this process (MemoryBroker): no server, no network."""
    connection_class = getattr(getattr(client, "connection_pool", None), "connection_class", None)
    return getattr(connection_class, "__module__", "").split(".")[0] == "fakeredis"


_NO_SERVER = "embedded broker: no Redis server to configure"
_NO_NETWORK = "embedded broker: nothing connects to it over a network"
_EMBEDDED: dict[str, Finding] = {
    "aof": (Verdict.FAIL, "embedded broker: its jobs are lost when this process exits",
            "Use RedisBroker, with a Redis persisted with AOF, in production."),
    "appendfsync": (Verdict.UNKNOWN, _NO_SERVER, "Use RedisBroker in production."),
    "eviction": (Verdict.UNKNOWN, _NO_SERVER, "Use RedisBroker in production."),
    "auth": (Verdict.PASS, _NO_NETWORK, ""),
    "tls": (Verdict.PASS, _NO_NETWORK, ""),
}  # fmt: skip


def _across_nodes(name: str, nodes: Sequence[_Node], observe: Callable[[_Node], Finding]) -> Check:
    """Run `observe` on every node; report the worst verdict and what each node showed."""
    found = [(node.label, _guarded(name, observe, node)) for node in nodes]
    if len(found) == 1:
        return Check(name, *found[0][1])
    worst = max((finding[0] for _, finding in found), key=_SEVERITY.__getitem__)
    details = {finding[1] for _, finding in found}
    if len(details) == 1:
        detail = f"{details.pop()} (on each of the {len(found)} primaries)"
    else:
        detail = "; ".join(f"{label}: {finding[1]}" for label, finding in found)
    advice = next(finding[2] for _, finding in found if finding[0] is worst)
    return Check(name, worst, detail, advice)


def _check(queue: str, name: str, observe: Callable[..., Finding], *args: Any) -> Check:
    verdict, detail, advice = _guarded(name, observe, *args)
    return Check(name, verdict, f"queue {queue!r}: {detail}", advice)


def _guarded(name: str, observe: Callable[..., Finding], *args: Any) -> Finding:
    """Run one observation; any error makes it unknown, with the reason."""
    try:
        return observe(*args)
    except Exception as e:
        logger.debug("Check %s could not be made", name, exc_info=True)
        return Verdict.UNKNOWN, _describe(e), _BY_HAND[name]


def _describe(error: Exception) -> str:
    if isinstance(error, _Unobservable):
        return str(error)
    if isinstance(error, ResponseError):
        return f"Redis refused: {error}"
    if isinstance(error, RedisError | OSError):
        return f"could not talk to Redis: {error}"
    return f"the check failed: {type(error).__name__}: {error}"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# -- Redis settings ------------------------------------------------------------------------------


def _aof(node: _Node) -> Finding:
    value, source = node.setting("appendonly", "persistence", "aof_enabled")
    if value not in ("yes", "1"):
        return Verdict.FAIL, f"AOF persistence is off{source}", _ADVICE["aof"]
    try:
        status = node.info("persistence").get("aof_last_write_status", "ok")
    except ResponseError:
        status = "ok"  # INFO refused while CONFIG allowed: the setting alone is the answer
    if status != "ok":
        return Verdict.FAIL, f"AOF is on but its last write failed ({status})", _ADVICE["aof_error"]
    return Verdict.PASS, f"AOF persistence is on{source}", ""


def _appendfsync(node: _Node) -> Finding:
    value, _ = node.setting("appendfsync")
    if value == "everysec":
        return Verdict.PASS, "appendfsync everysec: a power loss costs at most ~1 s of writes", ""
    if value == "always":
        return Verdict.PASS, "appendfsync always: every write is on disk before Redis answers", ""
    if value == "no":
        detail = "appendfsync no: the OS writes the AOF to disk when it likes (~30 s on Linux)"
        return Verdict.WARN, detail, _ADVICE["appendfsync"]
    return Verdict.UNKNOWN, f"appendfsync {value}: unknown to doctor", _BY_HAND["appendfsync"]


def _eviction(node: _Node) -> Finding:
    policy, source = node.setting("maxmemory-policy", "memory", "maxmemory_policy")
    if policy != "noeviction":
        detail = f"maxmemory-policy {policy}{source}: Redis deletes keys, jobs included, when full"
        return Verdict.FAIL, detail, _ADVICE["eviction"]
    return Verdict.PASS, f"maxmemory-policy noeviction{source}: a full Redis refuses writes", ""


def _auth(node: _Node) -> Finding:
    connection_class, kwargs = _endpoint(node.client)
    try:
        reply = probe_without_credentials(connection_class, kwargs)
    except AuthenticationError:
        password = kwargs.get("password")
        if isinstance(password, str) and len(password) < MIN_PASSWORD_LENGTH:
            detail = (
                f"Redis refuses clients without credentials, but the password used here is "
                f"{len(password)} characters long"
            )
            return Verdict.WARN, detail, _ADVICE["auth_weak"]
        return Verdict.PASS, "Redis refuses clients without credentials (NOAUTH)", ""
    except NoPermissionError:
        detail = "a client without credentials is let in as the default user (PING refused)"
        return Verdict.WARN, detail, _ADVICE["auth_default"]
    except (RedisError, OSError) as e:
        raise _Unobservable(f"could not open a connection without credentials: {e}") from None
    return Verdict.FAIL, f"Redis answers {_text(reply)} without a password", _ADVICE["auth"]


#: Settings of a probe connection: where to connect and how (TLS), never who to be.
_PROBE_SETTINGS = ("host", "port", "socket_type", "socket_keepalive", "socket_keepalive_options")


def probe_without_credentials(connection_class: type, kwargs: dict[str, Any]) -> Any:
    """PING Redis on a new connection that sends no credentials; return the reply.

    Raises AuthenticationError (NOAUTH) when Redis requires credentials.
    """
    timeout = min(float(kwargs.get("socket_connect_timeout") or 5.0), 5.0)
    common: dict[str, Any] = {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }
    factory: Any = redis.Connection
    settings = {key: value for key, value in kwargs.items() if key in _PROBE_SETTINGS}
    if issubclass(connection_class, redis.UnixDomainSocketConnection):
        factory, settings = redis.UnixDomainSocketConnection, {"path": kwargs["path"]}
    elif issubclass(connection_class, redis.SSLConnection):
        factory = redis.SSLConnection
        settings.update((key, value) for key, value in kwargs.items() if key.startswith("ssl_"))
    probe = factory(**settings, **common)
    try:
        probe.connect()
        probe.send_command("PING")
        return probe.read_response()
    finally:
        probe.disconnect()


def tls_finding(connection_class: type, kwargs: dict[str, Any]) -> Finding:
    """Judge the transport of a client from its connection class and settings."""
    if issubclass(connection_class, redis.UnixDomainSocketConnection):
        return Verdict.PASS, f"unix socket {kwargs.get('path')}: never leaves this host", ""
    host = str(kwargs.get("host", "localhost"))
    if issubclass(connection_class, redis.SSLConnection):
        reqs = kwargs.get("ssl_cert_reqs", "required")
        if reqs == ssl.CERT_NONE or (isinstance(reqs, str) and reqs.lower() == "none"):
            detail = f"TLS to {host}, without checking the server's certificate"
            return Verdict.WARN, detail, _ADVICE["tls_unverified"]
        return Verdict.PASS, f"TLS to {host}", ""
    scope = host_scope(host)
    if scope == "loopback":
        return Verdict.PASS, f"plain TCP to {host}, on this host (loopback)", ""
    if scope == "private":
        detail = f"plain TCP to {host}, a private network address"
        return Verdict.WARN, detail, _ADVICE["tls_private"]
    if scope == "unresolved":
        raise _Unobservable(f"plain TCP to {host}, a name this host cannot resolve")
    return Verdict.FAIL, f"plain TCP to {host}, a public address: no encryption", _ADVICE["tls"]


def host_scope(host: str) -> str:
    """Where `host` is: 'loopback', 'private' (a private network), 'public' or 'unresolved'."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback"
    try:
        addresses = [ipaddress.ip_address(name.split("%")[0])]
    except ValueError:
        try:
            infos = socket.getaddrinfo(name, None)
        except OSError:
            return "unresolved"
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    addresses = [
        a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else a
        for a in addresses
    ]
    if all(a.is_loopback for a in addresses):
        return "loopback"
    if all(a.is_private or a.is_link_local for a in addresses):
        return "private"
    return "public"


# -- clock and cache ------------------------------------------------------------------------------


def _clock(node: _Node, clock: Callable[[], float]) -> Finding:
    started = time.monotonic()
    local = clock()
    seconds, micros = node.client.time()
    round_trip = time.monotonic() - started
    # Redis read its clock somewhere within the round trip: halfway is the best guess.
    skew = int(seconds) + int(micros) / 1e6 - (local + round_trip / 2)
    return clock_finding(skew, round_trip)


def clock_finding(skew: float, round_trip: float) -> Finding:
    """Judge a skew (Redis's clock minus this host's, in seconds) measured within a round trip."""
    where = "behind" if skew > 0 else "ahead of"
    detail = (
        f"this host's clock is {abs(skew):.3f} s {where} Redis's "
        f"(round trip {round_trip * 1000:.1f} ms)"
    )
    # Only the part of the skew that the round trip cannot explain counts.
    if abs(skew) - round_trip / 2 > MAX_CLOCK_SKEW:
        return Verdict.WARN, detail, _ADVICE["clock"]
    return Verdict.PASS, detail, ""


def _cache(node: _Node) -> Finding:
    signs: list[str] = []
    seen: list[str] = []
    unread: list[str] = []
    try:
        policy, _ = node.setting("maxmemory-policy", "memory", "maxmemory_policy")
        if policy != "noeviction":
            signs.append(f"an eviction policy is set ({policy})")
    except _Unobservable:
        unread.append("the eviction policy")
    db = int(node.client.connection_pool.connection_kwargs.get("db") or 0)
    try:
        for name, stats in sorted(node.info("keyspace").items()):
            if name == f"db{db}" or not isinstance(stats, dict):
                continue
            keys, expires = int(stats.get("keys", 0)), int(stats.get("expires", 0))
            line = f"{name} holds {keys} keys, {expires} with a TTL"
            (signs if keys and expires >= CACHE_TTL_SHARE * keys else seen).append(line)
    except ResponseError:
        unread.append("the other databases (INFO keyspace)")
    try:
        sampled, foreign, expiring = sample_keys(node.client)
        line = f"{foreign} of {sampled} sampled keys of db{db} are not Spinach's"
        if not sampled:
            line = f"db{db} holds no key"
        if expiring is None:
            unread.append("the TTLs of keys that are not Spinach's")
            seen.append(line)
        elif expiring and expiring >= CACHE_TTL_SHARE * foreign:
            signs.append(f"{line}, {expiring} of them with a TTL")
        else:
            seen.append(f"{line}, {expiring} with a TTL" if foreign else line)
    except ResponseError:
        unread.append("a SCAN sample of the keys")
    if signs:
        return Verdict.WARN, "looks like a cache: " + "; ".join(signs + seen), _ADVICE["cache"]
    if unread:
        detail = "; ".join([*seen, "could not read " + ", ".join(unread)])
        return Verdict.UNKNOWN, detail, _BY_HAND["cache"]
    return Verdict.PASS, "no sign of a cache: " + "; ".join(seen), ""


def sample_keys(client: Any, limit: int = SAMPLE_KEYS) -> tuple[int, int, int | None]:
    """SCAN up to `limit` keys: (keys sampled, not Spinach's, of those with a TTL or None).

    The TTL count is None when Redis refuses PTTL on those keys (an ACL user confined to its
    namespace). Never KEYS: SCAN does a bounded amount of work per call.
    """
    prefix = f"{PREFIX}:"
    cursor: int = 0
    sampled = 0
    foreign: list[Any] = []
    for _ in range(50):  # SCAN may return empty pages: bound the calls too
        cursor, keys = client.scan(cursor, count=limit)
        keys = keys[: limit - sampled]
        sampled += len(keys)
        foreign += [key for key in keys if not _text(key).startswith(prefix)]
        if int(cursor) == 0 or sampled >= limit:
            break
    if not foreign:
        return sampled, 0, 0
    pipe = client.pipeline(transaction=False)
    for key in foreign:
        pipe.pttl(key)
    ttls = pipe.execute(raise_on_error=False)
    if any(isinstance(ttl, Exception) for ttl in ttls):
        return sampled, len(foreign), None
    return sampled, len(foreign), sum(1 for ttl in ttls if int(ttl) >= 0)


# -- queues --------------------------------------------------------------------------------------


def _schema(broker: Broker, queue: str) -> Finding:
    stored = broker.client.get(queue_keys(broker.namespace, queue).schema)
    if stored is None:
        return Verdict.PASS, "no data yet (its schema is recorded on first use)", ""
    if _text(stored) != SCHEMA_VERSION:
        detail = (
            f"its data was written with schema {_text(stored)}, this installation uses "
            f"schema {SCHEMA_VERSION}: every call on it is refused"
        )
        return Verdict.FAIL, detail, _ADVICE["schema"]
    return Verdict.PASS, f"schema {SCHEMA_VERSION}, as this installation", ""


def _workers(broker: Broker, queue: str) -> Finding:
    workers = broker.live_workers(queue)
    if not workers:
        return Verdict.WARN, "no live worker: its jobs wait", _ADVICE["workers"]
    hosts = {worker.host or "?" for worker in workers}
    threads = sum(worker.threads for worker in workers)
    detail = f"{len(workers)} live worker(s) on {len(hosts)} host(s), {threads} threads"
    return Verdict.PASS, detail, ""


def _retries(broker: Broker, queue: str) -> Finding:
    return retries_finding(broker.live_workers(queue))


def retries_finding(workers: Sequence[WorkerInfo]) -> Finding:
    """Judge the retry budgets (max_retries) that the live workers of a queue declare."""
    if not workers:
        return Verdict.UNKNOWN, "no live worker declares its tasks", _BY_HAND["retries"]
    declared: dict[str, dict[str, list[str]]] = {}
    silent = 0
    for worker in workers:
        tasks = worker.tasks
        if not tasks:
            silent += 1  # a worker without tasks on this queue
            continue
        who = f"{worker.host or '?'} pid {worker.pid}"
        for name, budget in tasks.items():
            shown = "unlimited" if budget is None else str(budget)
            declared.setdefault(str(name), {}).setdefault(shown, []).append(who)
    older = f"{silent} worker(s) declare no task" if silent else ""
    if not declared:
        detail = older or "the live workers declare no task"
        return Verdict.UNKNOWN, detail, _BY_HAND["retries"]
    mismatched = {name: budgets for name, budgets in declared.items() if len(budgets) > 1}
    if mismatched:
        parts = [
            f"task {name!r}: "
            + ", ".join(f"{n} ({', '.join(sorted(w))})" for n, w in found.items())
            for name, found in sorted(mismatched.items())
        ]
        detail = "workers declare different max_retries: " + "; ".join(parts)
        return Verdict.WARN, detail, _ADVICE["retries"]
    budgets = {name: next(iter(found)) for name, found in declared.items()}
    once = sorted(name for name, budget in budgets.items() if budget == "0")
    retried = sorted(f"{name} ({budget})" for name, budget in budgets.items() if budget != "0")
    parts = [
        f"at most once (max_retries=0): {', '.join(once) or 'none'}",
        f"retried: {', '.join(retried) or 'none'}",
    ]
    return Verdict.PASS, "; ".join([*parts, *([older] if older else [])]), ""
