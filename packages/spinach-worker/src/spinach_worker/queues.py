"""Which queues a worker consumes, and how it shares its threads between them.

`start_workers(queue=...)` and ``spinach-worker --queue`` name them. One queue (a plain str, as
in Spinach 0.0.25) takes every thread. Several queues given without weights are served in
strict order: a queue gets free threads only while every queue before it has no ready job.
Given with weights (``"high:5"``, or ``("high", 5)``), the free threads of a busy worker are
shared in proportion to the weights, so no busy queue starves another.
"""

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from spinach.keys import validate_queue

#: What `start_workers(queue=...)` takes: one queue name, or several queues, each a name,
#: ``"name:weight"`` or ``(name, weight)``.
QueueSpec = str | Sequence[str | tuple[str, int]]

#: The text after the last ':' of ``"name:weight"`` that is read as a weight (and must then be
#: a whole number >= 1); anything else after a ':' is part of the queue's name (``mail:eu``).
_WEIGHT = re.compile(r"[+-]?\d*(\.\d*)?")


@dataclass(frozen=True, slots=True)
class QueuePlan:
    """The queues of one worker, in order, with their weights (None: strict order)."""

    queues: tuple[str, ...]
    weights: tuple[int, ...] | None = None

    @property
    def strict(self) -> bool:
        return self.weights is None

    def describe(self) -> str:
        """``high, default`` (strict order) or ``high:5, default:1`` (by weight)."""
        if self.weights is None:
            return ", ".join(self.queues)
        return ", ".join(f"{q}:{w}" for q, w in zip(self.queues, self.weights, strict=True))


def parse_queues(spec: QueueSpec) -> QueuePlan:
    """Read what `start_workers(queue=...)` or ``--queue`` names; ValueError saying what is wrong.

    A plain str is one queue name taken as it is (``"mail:eu"`` included), as in Spinach 0.0.25.
    A list or tuple names several queues, in order of priority, each as ``"name"``,
    ``"name:weight"`` or ``(name, weight)``. Either every queue has a weight or none does.
    """
    if isinstance(spec, str):
        return QueuePlan((validate_queue(spec),))
    if not isinstance(spec, Sequence) or not spec:
        raise ValueError(f"queue must be a queue name or a non-empty list of queues, got {spec!r}")
    names: list[str] = []
    weights: list[int | None] = []
    for item in spec:
        name, weight = _one(item)
        if name in names:
            raise ValueError(f"Queue {name!r} is named twice in {list(spec)!r}")
        names.append(name)
        weights.append(weight)
    given = [w for w in weights if w is not None]
    if not given:
        return QueuePlan(tuple(names))
    if len(given) != len(weights):
        raise ValueError(
            f"Give every queue a weight (by weight), or none (strict order): got {list(spec)!r}"
        )
    return QueuePlan(tuple(names), tuple(given))


def _one(item: object) -> tuple[str, int | None]:
    """The name and weight of one queue of a list: ``"name"``, ``"name:weight"`` or a pair."""
    if isinstance(item, str):
        name, colon, tail = item.rpartition(":")
        if not colon or not _WEIGHT.fullmatch(tail):
            return validate_queue(item), None
        return validate_queue(name), _weight(tail, item)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return validate_queue(item[0]), _weight(item[1], item)
    raise ValueError(f"A queue is a name, 'name:weight' or a (name, weight) pair, got {item!r}")


def _weight(value: object, item: object) -> int:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"A queue's weight must be a whole number >= 1, got {item!r}")
    return value
