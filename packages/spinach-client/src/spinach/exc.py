"""Exceptions raised by Spinach: one root, SpinachError, and a small tree below it."""


class SpinachError(Exception):
    """Base class of every error Spinach raises."""


class UnknownTask(SpinachError):
    """No task of that name is registered."""


class InvalidJobSignatureError(SpinachError):
    """The arguments given to schedule a job do not match the task's signature."""


class InvalidArgumentsError(SpinachError, TypeError):
    """Job arguments that cannot travel as JSON-compatible data; nothing was enqueued."""


class PayloadTooLargeError(SpinachError, ValueError):
    """An encoded job is larger than the engine accepts; nothing was enqueued."""


class InvalidNameError(SpinachError, ValueError):
    """A namespace or queue name that cannot be used in Redis keys."""


class SchemaMismatchError(SpinachError):
    """The data in Redis was written by an incompatible version of Spinach."""


class BrokerConnectionError(SpinachError, ConnectionError):
    """Redis could not be reached, even after retrying."""


class BrokerAuthError(SpinachError):
    """Redis refused the credentials or the ACL rights of the connection; retrying cannot help."""


class BrokerFullError(SpinachError):
    """Redis is out of memory (maxmemory with noeviction) and refused the jobs; none was sent."""


class JobAbandonedError(SpinachError):
    """A job's worker stopped renewing its lease (it died, hung or lost Redis) mid-run.

    Reported through ``job_failed`` for jobs that may not run again: at-most-once jobs
    (max_retries=0) and jobs out of retries.
    """


class WorkerNotInstalledError(SpinachError, ImportError):
    """Running jobs needs the spinach-worker distribution, which is not installed."""


class MemoryBrokerNotInstalledError(SpinachError, ImportError):
    """The embedded broker needs the memory extra (fakeredis, lupa), which is not installed."""
