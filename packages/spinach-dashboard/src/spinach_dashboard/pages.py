"""The pages: each reads what it shows through `DashboardData` and renders one template."""

import re
from collections.abc import Callable

from werkzeug.wrappers import Response

from spinach_dashboard.app import Context
from spinach_dashboard.data import JOB_STATES, BadRequest, job_id_from

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
    listed = state in ctx.data.features.listed_states
    job_page = ctx.data.jobs(state, queue, task, offset) if listed else None
    counts = ctx.data.status(queue).queues
    return ctx.render(
        "jobs.html",
        page="jobs",
        state=state,
        states=JOB_STATES,
        queue=queue,
        task=task,
        queues=ctx.data.queues(),
        job_page=job_page,
        count={s: sum(getattr(q, s, 0) for q in counts) for s in JOB_STATES},
    )


def job(ctx: Context, job_id: str) -> Response:
    info = ctx.data.job(job_id)
    return ctx.render("job.html", page="jobs", job=info, worker=ctx.data.worker_of(info))


def lookup(ctx: Context) -> Response:
    text = ctx.request.args.get("id", "").strip()
    if not text:
        raise BadRequest("Enter the id of a job to look it up.")
    return ctx.redirect(ctx.url("job", job_id=job_id_from(text)))


def periodic(ctx: Context) -> Response:
    return ctx.render("periodic.html", page="periodic", schedules=ctx.data.schedules())


def limits(ctx: Context) -> Response:
    return ctx.render("limits.html", page="limits", schedules=ctx.data.schedules())


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
