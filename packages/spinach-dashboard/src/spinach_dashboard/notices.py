"""What an action did, told on the page it redirects to; and where it may redirect.

The URL carries a notice's code and its values, never its text: a crafted link can only show
one of the dashboard's own messages (escaped like everything else).
"""

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from werkzeug.wrappers import Request

NOTICES = {
    "retried": "Job {job} is queued again.",
    "not-retried": "Job {job} could not be retried: it is not in the failed-job store any more, "
    "or its payload was lost.",
    "cancelled": "Job {job} is cancelled: it will not run.",
    "cancel-running": "Job {job} is running: it was not cancelled.",
    "cancel-requested": "Job {job} is running: its worker is asked to stop it, and it ends as "
    "cancelled.",
    "cancel-finished": "Job {job} had already finished: nothing was cancelled.",
    "cancel-not-found": "No job {job}: nothing was cancelled.",
    "ran-now": "Job {job} is ready: it runs next in its queue.",
    "not-ran-now": "Job {job} was not waiting any more: it is already ready, running or done.",
    "retried-all": "{n} failed jobs{of} queued again.",
    "purged": "{n} failed jobs{of} deleted.",
    "paused": "Periodic task {task} of queue {queue} is paused: it stays off the schedule until "
    "resumed.",
    "resumed": "Periodic task {task} of queue {queue} is resumed: live workers that declare it "
    "schedule it again.",
    "not-resumed": "Periodic task {task} of queue {queue} was not paused.",
    "queue-paused": "Queue {queue} is paused: its workers start none of its jobs until it is "
    "resumed; running jobs finish.",
    "queue-already-paused": "Queue {queue} was already paused.",
    "queue-resumed": "Queue {queue} is running again.",
    "queue-not-paused": "Queue {queue} was not paused.",
    "limit-set": "Task {task} of queue {queue} may now run {n} jobs at once.",
    "limit-cleared": "The override of task {task} of queue {queue} is lifted; the limit in "
    "force is {limit}.",
}

#: The query keys of a notice's values: prefixed, so that they never clash with the page's own
#: parameters (the Jobs page has a `task` and a `queue` filter of its own).
_PREFIX = "notice_"
_VALUES = ("job", "task", "queue", "n", "limit")


def notice(request: Request) -> str | None:
    """The message of the notice the URL names (only messages of NOTICES, never free text)."""
    template = NOTICES.get(request.args.get("notice", ""))
    if template is None:
        return None
    args = {name: request.args.get(_PREFIX + name, "") for name in _VALUES}
    task = args["task"][:200]
    values = {
        "job": args["job"][:36],
        "task": task,
        "queue": args["queue"][:200],
        "n": _count(args["n"]),
        "limit": (args["limit"] or "none")[:12],
        "of": f" of task {task}" if task else "",
    }
    return template.format(**values)


def _count(text: str | None) -> str:
    try:
        return f"{int(text or 0):,}"
    except ValueError:
        return "?"


def without_notice(location: str) -> str:
    """`location` without its notice: where a form on the page sends the operator back."""
    parts = urlsplit(location)
    query = [
        (k, v) for k, v in parse_qsl(parts.query) if k != "notice" and not k.startswith(_PREFIX)
    ]
    return parts._replace(query=urlencode(query)).geturl()


def with_notice(location: str, code: str, **values: Any) -> str:
    """`location` with a notice for the page to show (any earlier notice replaced)."""
    parts = urlsplit(without_notice(location))
    query = parse_qsl(parts.query)
    query += [("notice", code)]
    query += [(_PREFIX + k, str(v)) for k, v in values.items() if v is not None and v != ""]
    return parts._replace(query=urlencode(query)).geturl()


def safe_next(request: Request, default: str) -> str:
    """Where to go after an action: the form's `next` if it is a page of this dashboard."""
    target = request.form.get("next", "")
    root = (request.script_root or "") + "/"
    parts = urlsplit(target)
    if (
        not target.startswith(root)
        or target.startswith("//")
        or "\\" in target
        or parts.scheme
        or parts.netloc
    ):
        return default
    return target
