"""Redis ACL rules that confine a web app or a worker to one Spinach namespace."""

from spinach.keys import PREFIX, cancel_channel, validate_namespace

#: What the scripts run inside Redis (ACLs apply to commands called by scripts too).
SCRIPT_COMMANDS = (
    "set", "del", "exists", "get", "incr", "incrby",
    "hget", "hmget", "hkeys", "hset", "hsetnx", "hdel", "hincrby", "hexists",
    "lpop", "lpush", "rpush", "llen", "lrange", "ltrim", "lindex",
    "zadd", "zrem", "zcard", "zcount", "zscore", "zrange", "zrevrange", "zrangebyscore",
    "zremrangebyscore", "zlexcount", "zpopmin", "pexpire", "lrem",
    "sadd", "srem", "sismember", "time",
)  # fmt: skip

#: What the client and the worker send themselves, besides the scripts.
CLIENT_COMMANDS = (
    "evalsha", "script|load", "ping", "hello", "blpop", "rpush", "pexpire", "del", "set",
    "get", "hget", "hmget", "hgetall", "zlexcount", "llen", "zrange", "zrangebyscore", "scan",
    "sadd", "sscan", "smembers", "hscan", "time", "blmove", "lindex", "publish", "subscribe",
    "unsubscribe",
)  # fmt: skip


def acl_rules(namespace: str) -> str:
    """Return the ACL rules of a user that may run Spinach in `namespace` and nothing else.

    Use them as ``ACL SETUSER <user> on ><password> <rules>`` (or in an ACL file). The user can
    read and write the keys of `namespace` only, with the commands Spinach needs; other
    namespaces and other keys of the server stay out of its reach.
    """
    validate_namespace(namespace)
    commands = sorted(set(SCRIPT_COMMANDS) | set(CLIENT_COMMANDS))
    keys = f"~{PREFIX}:{{{namespace}/* ~{PREFIX}:{{{namespace}}}*"
    channels = f"&{cancel_channel(namespace)}"  # the cancels of running jobs
    return " ".join(
        ["resetkeys", keys, "resetchannels", channels, "-@all", *(f"+{c}" for c in commands)]
    )
