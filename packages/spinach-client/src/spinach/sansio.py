"""Operations written once for the sync and the asyncio client: generators that yield requests.

An operation (`Op`) is a generator: it yields what it needs Redis to do (a `Script`, a batch of
`Scripts`, a plain `Command`), is sent back the reply, and returns its result. It holds the
whole logic of the operation (which calls, in which order, what the replies mean, when to stop
paging) and no I/O, so the sync `Broker` and the asyncio client run the very same code and
differ only by how they send a request. An error the client raises for a request is thrown
into the generator at its `yield`, so an operation translates errors where it asked.

Why generators rather than (build, read) pairs: several operations take a number of round trips
that depends on the replies (retry the failed store chunk by chunk, a filtered page, a find
over queues, the status of a namespace); a generator keeps that control flow in one place too.
"""

from collections.abc import Generator, Sequence
from typing import Any, NamedTuple, TypeVar

from spinach.contract import Call, parse

T = TypeVar("T")


class Script(NamedTuple):
    """Run one script call; the reply is its raw list, status already checked."""

    call: Call


class Scripts(NamedTuple):
    """Run several script calls, pipelined where the topology allows; the reply is their list.

    `durable`: followed by the broker's WAIT for replicas. `retried`: with the name of what is
    done, sent again after connection errors as `spinach.retrying.retry` does (the calls carry
    their idempotency tokens, so a resent call is never applied twice).
    """

    calls: Sequence[Call]
    durable: bool = False
    retried: str = ""


class Command(NamedTuple):
    """Call the redis-py method `name` (the sync and asyncio clients share their signatures).

    `retried`: as for `Scripts`, for a command that is safe to send twice.
    """

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}  # never mutated: a request is built, then sent
    retried: str = ""


Request = Script | Scripts | Command

#: An operation: yields requests, is sent their replies, returns a T.
Op = Generator[Request, Any, T]


def script(reply_type: type[T], call: Call) -> Op[T]:
    """Run one script call and return its reply as the script's NamedTuple."""
    raw = yield Script(call)
    return parse(call[0], reply_type, raw)


def done(value: T) -> Op[T]:
    """An operation that needs no round trip and returns `value`."""
    return value
    yield  # a generator all the same


class Steps:
    """Drives an operation one request at a time: the loop both clients share.

    ``while (request := steps.request) is not None`` then `reply()` or `fail()`; `result` once
    `request` is None.
    """

    __slots__ = ("_op", "request", "result")

    def __init__(self, op: Op[Any]) -> None:
        self._op = op
        self.result: Any = None
        self.request: Request | None = None
        self._advance(None, None)

    def reply(self, value: Any) -> None:
        """Hand the reply of the current request to the operation."""
        self._advance(value, None)

    def fail(self, error: Exception) -> None:
        """Raise `error` in the operation, where it asked; it may handle it or let it out."""
        self._advance(None, error)

    def _advance(self, value: Any, error: Exception | None) -> None:
        try:
            self.request = self._op.send(value) if error is None else self._op.throw(error)
        except StopIteration as finished:
            self.request = None
            self.result = finished.value
