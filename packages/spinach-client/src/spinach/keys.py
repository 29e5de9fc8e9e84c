"""Redis key names: built here and nowhere else, and always handed to Lua in KEYS.

All keys of one queue share the hash tag ``{<namespace>/<queue>}``, so every script call runs
on a single Redis Cluster slot while different queues spread over the shards. Namespace-wide
records use the tag ``{<namespace>}``, which never contains the ``/`` of a queue tag.
"""

import functools
import re
from dataclasses import dataclass

from spinach.exc import InvalidNameError
from spinach_lua import SCHEMA_VERSION

PREFIX = "spinach"

_FORBIDDEN_IN_NAMESPACE = re.compile(r"[{}/\s]")
_FORBIDDEN_IN_QUEUE = re.compile(r"[{}\s]")


def validate_namespace(namespace: str) -> str:
    """Return `namespace`, or raise InvalidNameError saying what is wrong with it."""
    if not isinstance(namespace, str) or not namespace:
        raise InvalidNameError(f"Namespace must be a non-empty str, got {namespace!r}")
    if _FORBIDDEN_IN_NAMESPACE.search(namespace):
        raise InvalidNameError(
            f"Namespace {namespace!r} must not contain braces, '/' or white space"
        )
    return namespace


def validate_queue(queue: str) -> str:
    """Return `queue`, or raise InvalidNameError saying what is wrong with it."""
    if not isinstance(queue, str) or not queue:
        raise InvalidNameError(f"Queue name must be a non-empty str, got {queue!r}")
    if queue.startswith("_"):
        raise InvalidNameError(f"Queue names starting with '_' are reserved: {queue!r}")
    if _FORBIDDEN_IN_QUEUE.search(queue):
        raise InvalidNameError(f"Queue name {queue!r} must not contain braces or white space")
    return queue


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue of one namespace.

    The field names are the key names of the scripts' contracts (spinach_lua's headers), so the
    script runner takes a script's keys from here by name.
    """

    schema: str
    ready: str
    ranked: str
    ranked_seq: str
    delayed: str
    running: str
    wake: str
    lease_seq: str
    periodic: str
    periodic_every: str
    periodic_alive: str
    periodic_paused: str
    limits: str
    limits_code: str
    limits_override: str
    limited_running: str
    workers: str
    workers_info: str
    done: str
    done_index: str
    failed_index: str
    jobs: str
    stats: str
    control: str
    unique: str
    unique_until: str
    rates: str
    results: str
    outbox: str
    workflows: str
    _base: str

    def enqueue_token(self, token: str) -> str:
        """Key of the idempotency marker of one enqueue call."""
        return f"{self._base}:token:{token}"

    def parked(self, task: str) -> str:
        """List of the jobs of a limited task held back by its limit."""
        return f"{self._base}:parked:{task}"

    def result(self, job_id: str) -> str:
        """The stored result of one job (a LIST named by the scripts too: see spinach_lua's
        result include)."""
        return f"{self.results}:{job_id}"

    def worker_wake(self, worker_id: str) -> str:
        """Private wake-up list of one worker, beside the queue's own (same slot for BLPOP)."""
        return f"{self._base}:wake:{worker_id}"


@functools.lru_cache(maxsize=1024)
def queue_keys(namespace: str, queue: str) -> QueueKeys:
    """Return the keys of `queue` in `namespace`.

    The data keys carry the schema version (``spinach:{shop/mail}:3:ready``): scripts of one
    schema never touch data of another, and the schema key, outside them, says which schema
    a queue's data was written with.
    """
    tag = f"{PREFIX}:{{{namespace}/{queue}}}"
    base = f"{tag}:{SCHEMA_VERSION}"
    return QueueKeys(
        schema=f"{tag}:schema",
        ready=f"{base}:ready",
        ranked=f"{base}:ranked",
        ranked_seq=f"{base}:ranked:seq",
        delayed=f"{base}:delayed",
        running=f"{base}:running",
        wake=f"{base}:wake",
        lease_seq=f"{base}:lease_seq",
        periodic=f"{base}:periodic",
        periodic_every=f"{base}:periodic:every",
        periodic_alive=f"{base}:periodic:alive",
        periodic_paused=f"{base}:periodic:paused",
        limits=f"{base}:limits",
        limits_code=f"{base}:limits:code",
        limits_override=f"{base}:limits:override",
        limited_running=f"{base}:limits:running",
        workers=f"{base}:workers",
        workers_info=f"{base}:workers:info",
        done=f"{base}:done",
        done_index=f"{base}:done:index",
        failed_index=f"{base}:failed:index",
        jobs=f"{base}:jobs",
        stats=f"{base}:stats",
        control=f"{base}:control",
        unique=f"{base}:unique",
        unique_until=f"{base}:unique:until",
        rates=f"{base}:rates",
        results=f"{base}:results",
        outbox=f"{base}:outbox",
        workflows=f"{base}:workflows",
        _base=base,
    )


def queues_key(namespace: str) -> str:
    """Set of the queue names of `namespace` that clients and workers have used.

    Inspection and `spinach` commands read it to find the queues without scanning the keyspace.
    """
    return f"{PREFIX}:{{{namespace}}}:queues"


def cancel_channel(namespace: str) -> str:
    """The pub/sub channel on which a cancel of a running job of `namespace` is published (its
    message: the job's id); every worker of the namespace listens to it."""
    return f"{PREFIX}:{{{namespace}}}:cancel"


def namespace_patterns(namespace: str) -> tuple[str, str]:
    """SCAN patterns matching every key of `namespace` (admin use only, never on a hot path)."""
    escaped = re.sub(r"([*?\[\]\\])", r"\\\1", namespace)
    return f"{PREFIX}:{{{escaped}/*", f"{PREFIX}:{{{escaped}}}*"
