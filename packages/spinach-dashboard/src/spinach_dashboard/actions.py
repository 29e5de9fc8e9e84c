"""The actions: POSTs only (app.py checked authorization, read-only mode and the CSRF token).

Each does one thing through `DashboardData`, then redirects (303) to the page it came from,
with a notice saying what happened, so that reloading that page never repeats the action.
"""

from collections.abc import Callable

from werkzeug.wrappers import Response

from spinach.inspection import CancelResult
from spinach_dashboard.app import Context
from spinach_dashboard.data import BadRequest
from spinach_dashboard.notices import safe_next, with_notice
from spinach_dashboard.pages import whole_number

_CANCEL_NOTICES = {
    CancelResult.CANCELLED: "cancelled",
    CancelResult.RUNNING: "cancel-running",
    CancelResult.FINISHED: "cancel-finished",
    CancelResult.NOT_FOUND: "cancel-not-found",
}


def retry(ctx: Context, job_id: str) -> Response:
    done = ctx.data.retry(job_id)
    back = safe_next(ctx.request, ctx.url("job", job_id=job_id))
    return ctx.redirect(with_notice(back, "retried" if done else "not-retried", job=job_id))


def cancel(ctx: Context, job_id: str) -> Response:
    result = ctx.data.cancel(job_id)
    back = safe_next(ctx.request, ctx.url("job", job_id=job_id))
    return ctx.redirect(with_notice(back, _CANCEL_NOTICES[result], job=job_id))


def retry_all(ctx: Context) -> Response:
    queue = ctx.data.queue(ctx.request.form.get("queue"))
    count = ctx.data.retry_all(queue)
    back = safe_next(ctx.request, ctx.url("jobs", state="failed"))
    return ctx.redirect(with_notice(back, "retried-all", n=count))


def purge(ctx: Context) -> Response:
    queue = ctx.data.queue(ctx.request.form.get("queue"))
    if ctx.request.form.get("confirm") != "yes":
        raise BadRequest("Tick the box to confirm: purging deletes the failed jobs for good.")
    count = ctx.data.purge(queue)
    back = safe_next(ctx.request, ctx.url("jobs", state="failed"))
    return ctx.redirect(with_notice(back, "purged", n=count))


def pause(ctx: Context) -> Response:
    task = _task(ctx)
    done = ctx.data.pause_periodic(task)
    back = safe_next(ctx.request, ctx.url("periodic"))
    return ctx.redirect(with_notice(back, "paused" if done else "not-paused", task=task))


def resume(ctx: Context) -> Response:
    task = _task(ctx)
    ctx.data.resume_periodic(task)
    return ctx.redirect(
        with_notice(safe_next(ctx.request, ctx.url("periodic")), "resumed", task=task)
    )


def set_limit(ctx: Context) -> Response:
    task = _task(ctx)
    text = ctx.request.form.get("limit", "").strip()
    if not text:
        raise BadRequest("Enter a limit: how many jobs of the task may run at once.")
    limit = whole_number(text, "limit")
    in_force = ctx.data.set_limit(task, limit)
    back = safe_next(ctx.request, ctx.url("limits"))
    return ctx.redirect(with_notice(back, "limit-set", task=task, n=in_force or limit))


def clear_limit(ctx: Context) -> Response:
    task = _task(ctx)
    in_force = ctx.data.set_limit(task, None)
    back = safe_next(ctx.request, ctx.url("limits"))
    limit = "none" if in_force is None else str(in_force)
    return ctx.redirect(with_notice(back, "limit-cleared", task=task, limit=limit))


def _task(ctx: Context) -> str:
    task = ctx.request.form.get("task", "").strip()
    if not task:
        raise BadRequest("The form names no task.")
    return task


HANDLERS: dict[str, Callable[..., Response]] = {
    "retry": retry,
    "cancel": cancel,
    "retry_all": retry_all,
    "purge": purge,
    "pause": pause,
    "resume": resume,
    "set_limit": set_limit,
    "clear_limit": clear_limit,
}
