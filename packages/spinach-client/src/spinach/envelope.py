"""The wire format of a job: encoded once by msgspec, stored as is, never decoded by Lua.

The format only grows by new fields with defaults, so workers and clients of different versions
can share a queue during a rolling deploy.
"""

from collections.abc import Sequence
from typing import Any

import msgspec


class Envelope(msgspec.Struct, tag="1", tag_field="v", kw_only=True, omit_defaults=True):
    """One job as stored in Redis."""

    id: str
    task: str
    queue: str
    #: Decoded as a list; a tuple is accepted when encoding.
    args: Sequence[Any] = ()
    kwargs: dict[str, Any] = {}
    #: None means retried without limit (max_retries=float('inf') in Spinach 0.0.25).
    max_retries: int | None = 0
    #: Due time the job was scheduled for, ms since the epoch; 0 means as soon as possible.
    at: int = 0
    #: When the client sent the job, ms since the epoch, by the client's clock.
    created: int = 0
    #: Context propagated from the producer (tracing); empty unless an integration fills it.
    headers: dict[str, str] = {}
    #: How long the worker keeps the job's return value, in ms; 0: it keeps none.
    result_ttl: int = 0
    #: The id of the workflow the job is a step of ("": none): the worker then sends its
    #: result on to the steps after it.
    workflow: str = ""
    #: The result of the step before it in its workflow, added by Redis when it starts the job
    #: (the task gets it as its first argument); unset for a job that follows no step.
    prior: Any = msgspec.UNSET


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)


#: Return the stored form of an envelope (the encoder's own method: no wrapper on the hot path).
encode = _encoder.encode


def decode(payload: bytes | str) -> Envelope:
    """Return the envelope stored as `payload`; raise msgspec.DecodeError or ValidationError."""
    return _decoder.decode(payload)
