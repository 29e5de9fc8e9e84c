"""Run spinach-lua scripts by SHA, reloading them when Redis has forgotten them.

This is the only place where a script's reply code becomes an exception.
"""

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

from spinach.contract import Call, parse
from spinach.exc import SchemaMismatchError, SpinachError
from spinach_lua import SCHEMA_VERSION, SCRIPTS, ScriptError

T = TypeVar("T")


class ReplicationTimeoutError(SpinachError):
    """Redis applied an enqueue, but fewer replicas than asked acknowledged it in time."""


class RunnerSettings:
    """What the sync and the asyncio runners hold: the client, and how enqueues wait for
    replicas (refused on a cluster, which has no WAIT across its shards)."""

    #: The cluster client class of the runner's flavour of redis-py.
    cluster_class: ClassVar[type] = RedisCluster

    def __init__(
        self, client: Any, wait_for_replicas: int = 0, wait_timeout_ms: int = 1000
    ) -> None:
        self._client: Any = client
        self._cluster = isinstance(client, self.cluster_class)
        if wait_for_replicas and self._cluster:
            raise ValueError("wait_for_replicas is not available on Redis Cluster")
        self._wait_for_replicas = wait_for_replicas
        self._wait_timeout_ms = wait_timeout_ms


class ScriptRunner(RunnerSettings):
    """Call scripts with EVALSHA, loading each into Redis's cache the first time it is missing.

    Redis forgets its script cache on restart, failover or SCRIPT FLUSH; a NOSCRIPT reply means
    the script did not run, so loading it and sending the same call again is always safe. On a
    cluster redis-py routes each call to the node of its keys (all of one hash tag) and loads
    scripts on every primary.

    With `wait_for_replicas`, durable calls (enqueues) are followed on the same connection by a
    WAIT, so that they return only once that many replicas have the jobs.
    """

    def __call__(self, call: Call) -> list[Any]:
        """Run one script call and return its reply after its status code was checked."""
        name, keys, args = call
        script = SCRIPTS[name]
        try:
            reply = self._client.evalsha(script.sha1, len(keys), *keys, *args)
        except NoScriptError:
            self._client.script_load(script.source)
            reply = self._client.evalsha(script.sha1, len(keys), *keys, *args)
        return _checked(name, keys, reply)

    def run(self, reply_type: type[T], call: Call) -> T:
        """Run one script call and return its reply as the script's NamedTuple."""
        return parse(call[0], reply_type, self(call))

    def many(self, calls: Sequence[Call], durable: bool = False) -> list[list[Any]]:
        """Run several script calls, in one round trip where the topology allows it.

        A cluster refuses EVALSHA in pipelines, and the calls may target different nodes: there
        they are sent one by one (each is atomic on its own either way).
        """
        waiting = durable and self._wait_for_replicas > 0
        if self._cluster or (len(calls) == 1 and not waiting):
            return [self(one) for one in calls]
        replies, acknowledged = self._send(calls, waiting)
        if missing := unloaded(replies):
            for name in {calls[i][0] for i in missing}:
                self._client.script_load(SCRIPTS[name].source)
            resent = self._send([calls[i] for i in missing], waiting)
            acknowledged = merge_resent(replies, missing, resent)
        return collect(calls, replies, acknowledged, self._wait_for_replicas, self._wait_timeout_ms)

    def _send(self, calls: Sequence[Call], waiting: bool) -> tuple[list[Any], int | None]:
        """Pipeline `calls` (then a WAIT if `waiting`); return the replies and WAIT's count."""
        pipe = self._client.pipeline(transaction=False)
        queue_calls(pipe, calls, self._wait_for_replicas if waiting else 0, self._wait_timeout_ms)
        return split_wait(pipe.execute(raise_on_error=False), waiting)


# -- what the sync and the asyncio runners share: a pipeline's commands and replies -----------


def queue_calls(pipe: Any, calls: Sequence[Call], replicas: int, timeout_ms: int) -> None:
    """Queue `calls` on a redis-py pipeline (sync or asyncio), then a WAIT if `replicas`."""
    for name, keys, args in calls:
        pipe.evalsha(SCRIPTS[name].sha1, len(keys), *keys, *args)
    if replicas:
        pipe.execute_command("WAIT", replicas, timeout_ms)


def split_wait(replies: list[Any], waiting: bool) -> tuple[list[Any], int | None]:
    """The calls' replies of a pipeline, and how many replicas its WAIT counted (if any)."""
    acknowledged = replies.pop() if waiting else None
    return replies, acknowledged if isinstance(acknowledged, int) else None


def unloaded(replies: Sequence[Any]) -> list[int]:
    """Positions of the calls of a pipeline that did not run: their script was not loaded."""
    return [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]


def merge_resent(
    replies: list[Any], missing: Sequence[int], resent: tuple[list[Any], int | None]
) -> int | None:
    """Put the replies of the calls sent again in their places; return the new WAIT count."""
    for i, reply in zip(missing, resent[0], strict=True):
        replies[i] = reply
    return resent[1]


def collect(
    calls: Sequence[Call],
    replies: Sequence[Any],
    acknowledged: int | None,
    replicas: int,
    timeout_ms: int,
) -> list[list[Any]]:
    """Check the replies of a pipeline of calls: errors raised, status codes, replication."""
    results = []
    for (name, keys, _), reply in zip(calls, replies, strict=True):
        if isinstance(reply, Exception):
            raise reply
        results.append(_checked(name, keys, reply))
    if acknowledged is not None and acknowledged < replicas:
        raise ReplicationTimeoutError(
            f"The jobs are enqueued on the primary, but only {acknowledged} of {replicas} "
            f"replicas confirmed them within {timeout_ms} ms: a failover now could lose them"
        )
    return results


def _checked(name: str, keys: Sequence[str], reply: Any) -> list[Any]:
    code = int(reply[0])
    if code == ScriptError.SCHEMA_MISMATCH:
        stored = reply[1].decode() if isinstance(reply[1], bytes) else reply[1]
        where = keys[0].rsplit(":", 1)[0] if keys else "this namespace"
        raise SchemaMismatchError(
            f"Redis data at {where} uses Spinach schema {stored}, but this installation uses "
            f"schema {SCHEMA_VERSION}: run the same spinach-lua version everywhere, or drain "
            "the queue with the old version first (see the upgrade notes of the migration page)"
        )
    if code < 0:
        raise RuntimeError(f"Script {name} failed with unknown code {code}")
    return list(reply)
