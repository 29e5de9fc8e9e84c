"""The pages: each reads what it shows through `DashboardData` and renders one template."""

import re
from collections.abc import Callable

from werkzeug.wrappers import Response

from spinach_dashboard.app import Context
from spinach_dashboard.data import BadRequest, job_id_from
from spinach_dashboard.listing import JOB_STATES, PAGE_SIZE

#: Longest task name a filter takes (longer ones cannot be task names worth looking for).
MAX_TASK_FILTER = 200


def overview(ctx: Context) -> Response:
    return ctx.render("overview.html", page="overview", overview=ctx.data.overview())


def workers(ctx: Context) -> Response:
    return ctx.render("workers.html", page="workers", workers=ctx.data.workers())


def jobs(ctx: Context) -> Response:
    args = ctx.request.args
    state = args.get("state", "failed")
    if state not in JOB_STATES:
        raise BadRequest(f"Unknown job state {state!r}: one of {', '.join(JOB_STATES)}.")
    queue = ctx.data.queue(args.get("queue"))
    task = args.get("task", "").strip() or None
    if task is not None and len(task) > MAX_TASK_FILTER:
        raise BadRequest(f"A task name is at most {MAX_TASK_FILTER} characters long.")
    offset = whole_number(args.get("offset"), "offset")
    # An attached task's jobs are in its queue: the filter looks there, and pages fully.
    queue = queue or ctx.data.attached_queue(task)
    listed = ctx.data.jobs(state, queue, task, offset)
    status = ctx.data.status(queue)
    return ctx.render(
        "jobs.html",
        page="jobs",
        state=state,
        states=JOB_STATES,
        queue=queue,
        task=task,
        queues=ctx.data.queues(),
        listed=listed,
        page_size=PAGE_SIZE,
        count=ctx.data.job_counts(status, listed),
        workers={worker.id: worker for worker in status.workers},
        held_back=sum(limit.waiting for limit in status.limits),
    )


def job(ctx: Context, job_id: str) -> Response:
    info = ctx.data.job(job_id)
    worker = ctx.data.workers_by_id(info.queue).get(info.worker or "")
    steps = ctx.data.workflow(info.workflow)
    return ctx.render("job.html", page="jobs", job=info, worker=worker, steps=steps)


def lookup(ctx: Context) -> Response:
    text = ctx.request.args.get("id", "").strip()
    if not text:
        raise BadRequest("Enter the id of a job to look it up.")
    return ctx.redirect(ctx.url("job", job_id=job_id_from(text)))


def periodic(ctx: Context) -> Response:
    return ctx.render("periodic.html", page="periodic", schedules=ctx.data.schedules())


def limits(ctx: Context) -> Response:
    return ctx.render(
        "limits.html", page="limits", schedules=ctx.data.schedules(), queues=ctx.data.queues()
    )


_WHOLE = re.compile(r"[0-9]{1,9}")


def whole_number(text: str | None, name: str, default: int = 0) -> int:
    """A query or form value that must be a whole number of at most 9 digits."""
    if text is None or text == "":
        return default
    if not _WHOLE.fullmatch(text.strip()):
        raise BadRequest(f"{name} must be a whole number (0 or more), got {text[:40]!r}.")
    return int(text)


HANDLERS: dict[str, Callable[..., Response]] = {
    "overview": overview,
    "workers": workers,
    "jobs": jobs,
    "job": job,
    "lookup": lookup,
    "periodic": periodic,
    "limits": limits,
}
