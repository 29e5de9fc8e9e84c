"""Run spinach-lua scripts by SHA, reloading them when Redis has forgotten them.

This is the only place where a script's reply code becomes an exception.
"""

from collections.abc import Sequence
from typing import Any, TypeVar

import redis
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

from spinach.contract import Call, parse
from spinach.exc import SchemaMismatchError, SpinachError
from spinach_lua import SCHEMA_VERSION, SCRIPTS, ScriptError

T = TypeVar("T")


class ReplicationTimeoutError(SpinachError):
    """Redis applied an enqueue, but fewer replicas than asked acknowledged it in time."""


class ScriptRunner:
    """Call scripts with EVALSHA, loading each into Redis's cache the first time it is missing.

    Redis forgets its script cache on restart, failover or SCRIPT FLUSH; a NOSCRIPT reply means
    the script did not run, so loading it and sending the same call again is always safe. On a
    cluster redis-py routes each call to the node of its keys (all of one hash tag) and loads
    scripts on every primary.

    With `wait_for_replicas`, durable calls (enqueues) are followed on the same connection by a
    WAIT, so that they return only once that many replicas have the jobs.
    """

    def __init__(
        self,
        client: "redis.Redis | RedisCluster",
        wait_for_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> None:
        self._client: Any = client
        self._cluster = isinstance(client, RedisCluster)
        self._wait_for_replicas = wait_for_replicas
        self._wait_timeout_ms = wait_timeout_ms

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
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            for name in {calls[i][0] for i in missing}:
                self._client.script_load(SCRIPTS[name].source)
            retried, acknowledged = self._send([calls[i] for i in missing], waiting)
            for i, reply in zip(missing, retried, strict=True):
                replies[i] = reply
        results = []
        for (name, keys, _), reply in zip(calls, replies, strict=True):
            if isinstance(reply, Exception):
                raise reply
            results.append(_checked(name, keys, reply))
        if acknowledged is not None and acknowledged < self._wait_for_replicas:
            raise ReplicationTimeoutError(
                f"The jobs are enqueued on the primary, but only {acknowledged} of "
                f"{self._wait_for_replicas} replicas confirmed them within "
                f"{self._wait_timeout_ms} ms: a failover now could lose them"
            )
        return results

    def _send(self, calls: Sequence[Call], waiting: bool) -> tuple[list[Any], int | None]:
        """Pipeline `calls` (then a WAIT if `waiting`); return the replies and WAIT's count."""
        pipe = self._client.pipeline(transaction=False)
        for name, keys, args in calls:
            script = SCRIPTS[name]
            pipe.evalsha(script.sha1, len(keys), *keys, *args)
        if waiting:
            pipe.execute_command("WAIT", self._wait_for_replicas, self._wait_timeout_ms)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        acknowledged = replies.pop() if waiting else None
        return replies, acknowledged if isinstance(acknowledged, int) else None


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
