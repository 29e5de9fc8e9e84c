"""Find the namespaces a Redis holds, to answer a mistyped ``--namespace`` with the real ones.

Each namespace records the queues it used in one set (`keys.queues_key`); a namespace exists
once it has that set. Listing the namespaces needs a SCAN over the keyspace, matching those
sets: the admin command does it only after a name was not found, never on a path that jobs
take, and it stops after a bounded number of SCAN calls so that a large shared Redis costs a
few hundred milliseconds, not a full walk.
"""

from dataclasses import dataclass
from typing import Any

from redis.cluster import RedisCluster

from spinach.exc import InvalidNameError
from spinach.keys import queues_key, validate_namespace

#: Keys asked for per SCAN call (a hint to Redis: each call does about this much work).
SCAN_COUNT = 1000

#: Most SCAN calls per Redis server (so about 100,000 keys looked at): past it, the listing
#: says it may be incomplete. More finds namespaces in larger keyspaces, at more Redis work.
MAX_SCAN_CALLS = 100


@dataclass(frozen=True, slots=True)
class Namespaces:
    """The namespaces found, sorted, and whether the whole keyspace was looked at."""

    names: list[str]
    complete: bool


def find_namespaces(client: Any, max_calls: int = MAX_SCAN_CALLS) -> Namespaces:
    """The namespaces whose queue set is in `client`'s Redis (every primary of a cluster)."""
    pattern = queues_key("*")
    prefix, suffix = pattern.split("*")
    names: set[str] = set()
    complete = True
    for server in _servers(client):
        cursor: int = 0
        for _ in range(max_calls):
            cursor, keys = server.scan(cursor, match=pattern, count=SCAN_COUNT)
            for key in keys:
                name = _text(key)[len(prefix) : -len(suffix)]
                try:
                    names.add(validate_namespace(name))
                except InvalidNameError:  # another key that happens to match the pattern
                    continue
            if int(cursor) == 0:
                break
        else:
            complete = False
    return Namespaces(sorted(names), complete)


def _servers(client: Any) -> list[Any]:
    """The clients of every server holding keys: the primaries of a cluster, or `client`."""
    if isinstance(client, RedisCluster):
        primaries = client.get_primaries()  # type: ignore[no-untyped-call]
        return [client.get_redis_connection(node) for node in primaries]
    return [client]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
