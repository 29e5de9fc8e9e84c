"""The actions: POSTs only (app.py checked authorization, read-only mode and the CSRF token).

Each does one thing through `DashboardData`, then redirects (303) to the page it came from,
with a notice saying what happened, so that reloading that page never repeats the action.
Actions on a task name it and its queue, so that the standalone dashboard, which has no task
attached, acts as well as a mounted one.
"""

from collections.abc import Callable

from werkzeug.wrappers import Response

from spinach.inspection import CancelResult
from spinach_dashboard.app import Context
from spinach_dashboard.data import BadRequest
from spinach_dashboard.notices import safe_next, with_notice
from spinach_dashboard.pages import MAX_TASK_FILTER, whole_number

_CANCEL_NOTICES = {
    CancelResult.CANCELLED: "cancelled",
    CancelResult.REQUESTED: "cancel-requested",
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


def run_now(ctx: Context, job_id: str) -> Response:
    done = ctx.data.run_now(job_id)
    back = safe_next(ctx.request, ctx.url("job", job_id=job_id))
    return ctx.redirect(with_notice(back, "ran-now" if done else "not-ran-now", job=job_id))


def retry_all(ctx: Context) -> Response:
    queue = ctx.data.queue(ctx.request.form.get("queue"))
    task = _task_filter(ctx)
    count = ctx.data.retry_all(queue, task)
    back = safe_next(ctx.request, ctx.url("jobs", state="failed"))
    return ctx.redirect(with_notice(back, "retried-all", n=count, task=task))


def purge(ctx: Context) -> Response:
    queue = ctx.data.queue(ctx.request.form.get("queue"))
    task = _task_filter(ctx)
    if ctx.request.form.get("confirm") != "yes":
        raise BadRequest("Tick the box to confirm: purging deletes the failed jobs for good.")
    count = ctx.data.purge(queue, task)
    back = safe_next(ctx.request, ctx.url("jobs", state="failed"))
    return ctx.redirect(with_notice(back, "purged", n=count, task=task))


def pause(ctx: Context) -> Response:
    task, queue = _target(ctx)
    ctx.data.pause_periodic(task, queue)
    back = safe_next(ctx.request, ctx.url("periodic"))
    return ctx.redirect(with_notice(back, "paused", task=task, queue=queue))


def resume(ctx: Context) -> Response:
    task, queue = _target(ctx)
    done = ctx.data.resume_periodic(task, queue)
    back = safe_next(ctx.request, ctx.url("periodic"))
    code = "resumed" if done else "not-resumed"
    return ctx.redirect(with_notice(back, code, task=task, queue=queue))


def set_limit(ctx: Context) -> Response:
    task, queue = _target(ctx)
    text = ctx.request.form.get("limit", "").strip()
    if not text:
        raise BadRequest("Enter a limit: how many jobs of the task may run at once.")
    limit = whole_number(text, "limit")
    in_force = ctx.data.set_limit(task, queue, limit)
    back = safe_next(ctx.request, ctx.url("limits"))
    return ctx.redirect(with_notice(back, "limit-set", task=task, queue=queue, n=in_force or limit))


def clear_limit(ctx: Context) -> Response:
    task, queue = _target(ctx)
    in_force = ctx.data.set_limit(task, queue, None)
    back = safe_next(ctx.request, ctx.url("limits"))
    limit = "none" if in_force is None else str(in_force)
    return ctx.redirect(with_notice(back, "limit-cleared", task=task, queue=queue, limit=limit))


def pause_queue(ctx: Context) -> Response:
    return _pause_or_resume(ctx, pause=True)


def resume_queue(ctx: Context) -> Response:
    return _pause_or_resume(ctx, pause=False)


def _pause_or_resume(ctx: Context, pause: bool) -> Response:
    """Pause or resume the queue the form names; say whether its state changed."""
    queue = ctx.data.queue(ctx.request.form.get("queue"))
    if queue is None:
        raise BadRequest("The form names no queue.")
    done = ctx.data.pause_queue(queue) if pause else ctx.data.resume_queue(queue)
    codes = (
        ("queue-paused", "queue-already-paused") if pause else ("queue-resumed", "queue-not-paused")
    )
    back = safe_next(ctx.request, ctx.url("overview"))
    return ctx.redirect(with_notice(back, codes[0] if done else codes[1], queue=queue))


def _task_filter(ctx: Context) -> str | None:
    """The task a bulk action is limited to, if the form names one."""
    task = ctx.request.form.get("task", "").strip()
    if len(task) > MAX_TASK_FILTER:
        raise BadRequest(f"A task name is at most {MAX_TASK_FILTER} characters long.")
    return task or None


def _target(ctx: Context) -> tuple[str, str]:
    """The task an action names, and its queue (given, or the attached task's)."""
    task = _task_filter(ctx)
    if task is None:
        raise BadRequest("The form names no task.")
    return task, ctx.data.queue_of(task, ctx.request.form.get("queue"))


HANDLERS: dict[str, Callable[..., Response]] = {
    "retry": retry,
    "cancel": cancel,
    "run_now": run_now,
    "retry_all": retry_all,
    "purge": purge,
    "pause": pause,
    "resume": resume,
    "set_limit": set_limit,
    "clear_limit": clear_limit,
    "pause_queue": pause_queue,
    "resume_queue": resume_queue,
}
