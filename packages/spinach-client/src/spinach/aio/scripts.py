"""Run spinach-lua scripts from asyncio: EVALSHA, reloaded on NOSCRIPT, pipelined by batch.

The asyncio twin of spinach.scripts.ScriptRunner: the same pipeline commands, the same reply
checks and errors (spinach.scripts' helpers), sent with redis.asyncio.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from spinach.contract import Call
from spinach.scripts import (
    RunnerSettings,
    _checked,
    collect,
    merge_resent,
    queue_calls,
    split_wait,
    unloaded,
)
from spinach_lua import SCRIPTS


class AsyncScriptRunner(RunnerSettings):
    """Call scripts with EVALSHA on a redis.asyncio client, loading each the first time.

    A NOSCRIPT reply means the script did not run (Redis restarted, failed over, or flushed
    its cache): loading it and sending the same call again is always safe. On a cluster
    redis-py routes each call to the node of its keys and loads scripts on every primary.
    """

    cluster_class = RedisCluster

    async def __call__(self, call: Call) -> list[Any]:
        """Run one script call and return its reply after its status code was checked."""
        name, keys, args = call
        sha1 = SCRIPTS[name].sha1
        try:
            reply = await self._client.evalsha(sha1, len(keys), *keys, *args)
        except NoScriptError:
            await self._client.script_load(SCRIPTS[name].source)
            reply = await self._client.evalsha(sha1, len(keys), *keys, *args)
        return _checked(name, keys, reply)

    async def many(self, calls: Sequence[Call], durable: bool = False) -> list[list[Any]]:
        """Run several script calls, in one round trip where the topology allows it.

        redis-py's cluster client refuses EVALSHA in pipelines, and the calls may target
        different nodes: there they are sent concurrently, one request each (every call is
        atomic on its own either way), and the first error is raised once all have answered,
        so that none is still in flight when the caller retries.
        """
        waiting = durable and self._wait_for_replicas > 0
        if self._cluster:
            return await self._concurrently(calls)
        if len(calls) == 1 and not waiting:
            return [await self(calls[0])]
        replies, acknowledged = await self._send(calls, waiting)
        if missing := unloaded(replies):
            for name in {calls[i][0] for i in missing}:
                await self._client.script_load(SCRIPTS[name].source)
            resent = await self._send([calls[i] for i in missing], waiting)
            acknowledged = merge_resent(replies, missing, resent)
        return collect(calls, replies, acknowledged, self._wait_for_replicas, self._wait_timeout_ms)

    async def _concurrently(self, calls: Sequence[Call]) -> list[list[Any]]:
        replies = await asyncio.gather(*(self(one) for one in calls), return_exceptions=True)
        results = []
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
            results.append(reply)
        return results

    async def _send(self, calls: Sequence[Call], waiting: bool) -> tuple[list[Any], int | None]:
        """Pipeline `calls` (then a WAIT if `waiting`); return the replies and WAIT's count."""
        pipe = self._client.pipeline(transaction=False)
        queue_calls(pipe, calls, self._wait_for_replicas if waiting else 0, self._wait_timeout_ms)
        return split_wait(await pipe.execute(raise_on_error=False), waiting)
