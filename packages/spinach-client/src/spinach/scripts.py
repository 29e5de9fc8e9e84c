"""Run spinach-lua scripts by SHA, reloading them when Redis has forgotten them.

This is the only place where a script's reply code becomes an exception.
"""

from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

from spinach.exc import SchemaMismatchError
from spinach_lua import SCHEMA_VERSION, SCRIPTS, ScriptError

Call = tuple[str, Sequence[str], Sequence[Any]]


class ScriptRunner:
    """Call scripts with EVALSHA, loading each into Redis's cache the first time it is missing.

    Redis forgets its script cache on restart, failover or SCRIPT FLUSH; a NOSCRIPT reply means
    the script did not run, so loading it and sending the same call again is always safe.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def __call__(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> list[Any]:
        """Run one script and return its reply after its status code was checked."""
        script = SCRIPTS[name]
        try:
            reply = self._client.evalsha(script.sha1, len(keys), *keys, SCHEMA_VERSION, *args)
        except NoScriptError:
            self._client.script_load(script.source)
            reply = self._client.evalsha(script.sha1, len(keys), *keys, SCHEMA_VERSION, *args)
        return _checked(name, keys, reply)

    def many(self, calls: Sequence[Call]) -> list[list[Any]]:
        """Run several script calls in one round trip (a non-transactional pipeline)."""
        if len(calls) == 1:
            name, keys, args = calls[0]
            return [self(name, keys, args)]
        replies = self._send(calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            for name in {calls[i][0] for i in missing}:
                self._client.script_load(SCRIPTS[name].source)
            for i, reply in zip(missing, self._send([calls[i] for i in missing]), strict=True):
                replies[i] = reply
        results = []
        for (name, keys, _), reply in zip(calls, replies, strict=True):
            if isinstance(reply, Exception):
                raise reply
            results.append(_checked(name, keys, reply))
        return results

    def _send(self, calls: Sequence[Call]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for name, keys, args in calls:
            script = SCRIPTS[name]
            pipe.evalsha(script.sha1, len(keys), *keys, SCHEMA_VERSION, *args)
        return pipe.execute(raise_on_error=False)


def _checked(name: str, keys: Sequence[str], reply: Any) -> list[Any]:
    code = int(reply[0])
    if code == ScriptError.SCHEMA_MISMATCH:
        stored = reply[1].decode() if isinstance(reply[1], bytes) else reply[1]
        where = keys[0].rsplit(":", 1)[0] if keys else "this namespace"
        raise SchemaMismatchError(
            f"Redis data at {where} uses Spinach schema {stored}, but this installation uses "
            f"schema {SCHEMA_VERSION}: run the same spinach-lua version everywhere, or drain "
            "the queue with the old version first"
        )
    if code < 0:
        raise RuntimeError(f"Script {name} failed with unknown code {code}")
    return list(reply)
