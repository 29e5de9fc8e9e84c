"""Workflows: chains (one step after another, each given the result of the one before) and
groups (steps in parallel, with callbacks when they all end), nested as deep as needed.

A workflow is compiled here into plain jobs, each created when the workflow is sent: the first
steps are queued, the others held. What each job's end moves on (its "exits") travels with its
record, and spinach_lua's workflow include explains how those ends are relayed exactly once.

    flow = Chain(
        Step("download", url),
        Group(Step("resize", 100), Step("resize", 800), on_complete=Step("report")),
        Step("publish"),
    )
    workflow = engine.schedule_workflow(flow)
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spinach.ids import new_job_id
from spinach.options import NO_OPTIONS, JobOptions

if TYPE_CHECKING:
    from spinach.job import Job

#: Separators of the exits in records (see spinach_lua's workflow include).
_PART, _EXIT = "\x04", "\x05"


class Step:
    """One job of a workflow: a task and its arguments (the result of the step before it, if
    any, comes first); `options` as `schedule_with` takes them (max_retries, priority, ...)."""

    __slots__ = ("args", "kwargs", "options", "task")

    def __init__(self, task: Any, *args: Any, **kwargs: Any) -> None:
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.options = NO_OPTIONS

    def with_options(self, **options: Any) -> "Step":
        """This step with job options of its own (those of `schedule_with`, but the due time)."""
        step = Step(self.task, *self.args, **self.kwargs)
        step.options = JobOptions(**options)
        if step.options.unique_key or step.options.debounce:
            raise ValueError("A workflow step cannot have a unique key")
        return step

    def __repr__(self) -> str:
        return f"Step({self.task!r}, ...)"


class Chain:
    """Steps run one after another; each gets the result of the one before as its first
    argument. A step that fails for good (or is cancelled) stops the rest: they end cancelled,
    with the reason in their error."""

    __slots__ = ("steps",)

    def __init__(self, *steps: "Node") -> None:
        if not steps:
            raise ValueError("A Chain needs at least one step")
        self.steps = tuple(_checked(step) for step in steps)


class Group:
    """Steps run in parallel. Once they all ended, `on_complete` runs whatever the outcome,
    given {"succeeded": n, "failed": n, "cancelled": n}; `on_success` runs only when all
    succeeded, given the list of their results in order (the next step of a chain too)."""

    __slots__ = ("members", "on_complete", "on_success")

    def __init__(
        self, *members: "Node", on_success: Step | None = None, on_complete: Step | None = None
    ) -> None:
        if not members:
            raise ValueError("A Group needs at least one member")
        self.members = tuple(_checked(member) for member in members)
        for name, callback in (("on_success", on_success), ("on_complete", on_complete)):
            if callback is not None and not isinstance(callback, Step):
                raise TypeError(f"Group({name}=...) takes a Step, got {callback!r}")
        self.on_success = on_success
        self.on_complete = on_complete


Node = Step | Chain | Group


def _checked(node: object) -> "Node":
    if not isinstance(node, Step | Chain | Group):
        raise TypeError(f"A workflow is made of Step, Chain and Group, got {node!r}")
    return node


@dataclass(slots=True)
class PlannedJob:
    """One job of a compiled workflow: its step, id, whether it waits, and its exits."""

    step: Step
    id: str
    held: bool
    exits: list[str]
    queue: str = ""
    #: Where its step sits in the workflow (indexes from the root): orders the jobs as written.
    path: tuple[int, ...] = ()


@dataclass(slots=True)
class PlannedGroup:
    id: str
    total: int
    exits: list[str]
    #: The queue the group lives in: its first member's.
    queue: str = ""


@dataclass(slots=True)
class Plan:
    """A workflow compiled into jobs and groups (their queues are filled in by the engine)."""

    id: str
    jobs: list[PlannedJob] = field(default_factory=list)
    groups: list[PlannedGroup] = field(default_factory=list)

    def exits(self, items: Sequence[str]) -> str:
        return _EXIT.join(items)


def compile_workflow(root: "Node", queue_of: Any) -> Plan:
    """The jobs and groups of `root`; `queue_of(step)` names the queue of a step's task."""
    plan = Plan(id=uuid.uuid4().hex)
    entries = set(_build(plan, _checked(root), [], queue_of, ()))
    for job in plan.jobs:
        job.held = job.id not in entries
    plan.jobs.sort(key=lambda job: job.path)
    return plan


def _build(
    plan: Plan, node: "Node", exits: list[str], queue_of: Any, path: tuple[int, ...]
) -> list[str]:
    """Create the jobs of `node` whose end signals `exits`; return the ids of its first jobs."""
    if isinstance(node, Step):
        job = PlannedJob(node, new_job_id(), True, exits, queue_of(node), path)
        plan.jobs.append(job)
        return [job.id]
    if isinstance(node, Chain):
        onward = exits
        entries: list[str] = []
        for index in reversed(range(len(node.steps))):
            entries = _build(plan, node.steps[index], onward, queue_of, (*path, index))
            onward = [_next(plan, job_id) for job_id in entries]
        return entries
    group = PlannedGroup(
        uuid.uuid4().hex, len(node.members), list(exits), queue_of(_first_step(node))
    )
    plan.groups.append(group)
    after = len(node.members)
    for index, (callback, kind) in enumerate(((node.on_success, "N"), (node.on_complete, "C"))):
        if callback is not None:
            (callback_id,) = _build(plan, callback, [], queue_of, (*path, after + index))
            group.exits.append(_PART.join((kind, _queue(plan, callback_id), callback_id)))
    entries = []
    for index, member in enumerate(node.members):
        marker = _PART.join(("G", group.queue, group.id, str(index)))
        entries += _build(plan, member, [marker], queue_of, (*path, index))
    return entries


def _first_step(node: "Node") -> Step:
    """The step a node starts with, first of all (where a group lives)."""
    while not isinstance(node, Step):
        node = node.steps[0] if isinstance(node, Chain) else node.members[0]
    return node


def _queue(plan: Plan, job_id: str) -> str:
    return next(job.queue for job in plan.jobs if job.id == job_id)


def _next(plan: Plan, job_id: str) -> str:
    return _PART.join(("N", _queue(plan, job_id), job_id))


@dataclass(frozen=True, slots=True)
class Workflow:
    """A workflow as sent: its id and its jobs, in the order of its steps."""

    id: str
    jobs: "list[Job]"
