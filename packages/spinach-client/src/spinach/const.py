"""Defaults shared by the client and the worker (names kept from Spinach 0.0.25)."""

DEFAULT_QUEUE = "spinach"
DEFAULT_NAMESPACE = "spinach"
DEFAULT_MAX_RETRIES = 0
DEFAULT_ENQUEUE_JOB_RETRIES = 4
DEFAULT_WORKER_NUMBER = 5

#: Largest encoded job accepted at schedule time. Spinach 0.0.25 had no limit; arguments of a
#: few hundred KiB keep working, and anything larger belongs in a database or object store.
DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024

#: How long a running job stays reserved to its worker without a heartbeat (renewed every third
#: of it). A dead worker's jobs run again elsewhere after at most this plus one heartbeat.
DEFAULT_LEASE_SECONDS = 15.0

#: How long the spinach-worker command waits for running jobs on SIGTERM before giving up on
#: them (Kubernetes' default grace period is 30 s).
DEFAULT_SHUTDOWN_TIMEOUT = 25.0

#: How long the idempotency marker of one enqueue call lives: longer than any retry of that call.
ENQUEUE_TOKEN_TTL_MS = 5 * 60 * 1000

#: Job priorities: higher runs first within a queue; 0 is the default (see the flow control page).
PRIORITY_MIN = -10
PRIORITY_MAX = 10
