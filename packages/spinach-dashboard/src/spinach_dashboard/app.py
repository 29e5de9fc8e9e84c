"""The WSGI application: routing, authorization, read-only mode, CSRF, errors and headers.

Pages (`pages`) and actions (`actions`) are plain functions of a `Context`; this module is the
admin surface's guard around them, so that no page has to remember a safety rule.
"""

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
import redis
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from spinach import Engine
from spinach.brokers.base import Broker
from spinach.exc import BrokerConnectionError, SchemaMismatchError, SpinachError
from spinach_dashboard.csrf import COOKIE, FIELD, Csrf
from spinach_dashboard.data import BadRequest, DashboardData, NotFound, engine_for
from spinach_dashboard.formatting import FILTERS
from spinach_dashboard.notices import notice, without_notice

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("spinach.dashboard")

#: Who may use the dashboard: called with each request's WSGI environ.
Authorize = Callable[[dict[str, Any]], bool]

#: Sent with every response: nothing but the dashboard's own files runs or loads in its pages.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _rules() -> list[Rule]:
    get, post = ["GET"], ["POST"]
    return [
        Rule("/", endpoint="overview", methods=get),
        Rule("/workers", endpoint="workers", methods=get),
        Rule("/jobs", endpoint="jobs", methods=get),
        Rule("/jobs/<job_id>", endpoint="job", methods=get),
        Rule("/lookup", endpoint="lookup", methods=get),
        Rule("/periodic", endpoint="periodic", methods=get),
        Rule("/limits", endpoint="limits", methods=get),
        Rule("/static/<name>", endpoint="static", methods=get),
        Rule("/jobs/<job_id>/retry", endpoint="retry", methods=post),
        Rule("/jobs/<job_id>/cancel", endpoint="cancel", methods=post),
        Rule("/jobs/<job_id>/run-now", endpoint="run_now", methods=post),
        Rule("/failed/retry-all", endpoint="retry_all", methods=post),
        Rule("/failed/purge", endpoint="purge", methods=post),
        Rule("/periodic/pause", endpoint="pause", methods=post),
        Rule("/periodic/resume", endpoint="resume", methods=post),
        Rule("/limits/set", endpoint="set_limit", methods=post),
        Rule("/limits/clear", endpoint="clear_limit", methods=post),
        Rule("/queues/pause", endpoint="pause_queue", methods=post),
        Rule("/queues/resume", endpoint="resume_queue", methods=post),
    ]


@dataclass
class Context:
    """What a page or an action gets: the request, the data, and how to answer."""

    app: "Dashboard"
    request: Request
    data: DashboardData
    url: Callable[..., str]
    csrf_token: str
    #: Whether the authorize hook let this request in (pages show nothing of the namespace
    #: to a request it refused, not even on an error page).
    authorized: bool = False

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        return self.app.render(self, template, status, **values)

    def redirect(self, location: str) -> Response:
        return Response(status=303, headers={"Location": location})


class Dashboard:
    """The dashboard as a WSGI application; made by `create_app`."""

    def __init__(
        self,
        engine: Engine,
        *,
        read_only: bool = False,
        authorize: Authorize | None = None,
        secret_key: str | bytes | None = None,
        refresh_seconds: float = 5.0,
        title: str = "Spinach",
    ) -> None:
        if authorize is not None and not callable(authorize):
            raise TypeError("authorize must be a callable taking the WSGI environ")
        if not refresh_seconds >= 0:
            raise ValueError("refresh_seconds must be 0 (no live refresh) or more")
        self.data = DashboardData(engine)
        self.read_only = bool(read_only)
        self.authorize = authorize
        self.refresh_seconds = refresh_seconds
        self.title = title
        self._csrf = Csrf(secret_key)
        self._map = Map(_rules(), strict_slashes=False, merge_slashes=False)
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("spinach_dashboard", "templates"),
            autoescape=True,  # every template, whatever its name: values from Redis are escaped
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.filters.update(FILTERS)
        self._static = _load_static()
        from spinach_dashboard import actions, pages

        self._handlers: dict[str, Callable[..., Response]] = {
            **pages.HANDLERS,
            **actions.HANDLERS,
        }

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        request = Request(environ)
        cookie = request.cookies.get(COOKIE)
        fresh_cookie = None if self._csrf.valid_cookie(cookie) else self._csrf.new_cookie()
        cookie = fresh_cookie or cookie or ""
        adapter = self._map.bind_to_environ(environ)
        ctx = Context(
            self,
            request,
            self.data,
            lambda endpoint, **values: adapter.build(endpoint, values),
            csrf_token=self._csrf.token(cookie),
        )
        try:
            response = self._respond(ctx, adapter)
        except HTTPException as e:
            response = self.error_page(ctx, e.code or 500, e.description or e.name)
        except NotFound as e:
            response = self.error_page(ctx, 404, str(e))
        except BadRequest as e:
            response = self.error_page(ctx, 400, str(e))
        except (BrokerConnectionError, redis.exceptions.ConnectionError) as e:
            logger.warning("Dashboard cannot reach Redis: %s", e)
            response = self.error_page(ctx, 503, f"Redis cannot be reached: {e}")
        except SchemaMismatchError as e:
            response = self.error_page(ctx, 503, str(e))
        except (SpinachError, redis.exceptions.RedisError) as e:
            logger.exception("Dashboard request %s %s failed", request.method, request.path)
            response = self.error_page(ctx, 500, f"Spinach or Redis refused the request: {e}")
        except Exception:
            logger.exception("Dashboard request %s %s failed", request.method, request.path)
            response = self.error_page(
                ctx, 500, "The dashboard failed to answer; its log has the details."
            )
        response.headers.update(SECURITY_HEADERS)
        if fresh_cookie is not None:
            response.set_cookie(
                COOKIE,
                fresh_cookie,
                path=(request.script_root or "") + "/",
                httponly=True,
                samesite="Strict",
                secure=request.scheme == "https",
            )
        return response(environ, start_response)

    def _respond(self, ctx: Context, adapter: Any) -> Response:
        try:
            endpoint, args = adapter.match()
        except HTTPException:
            ctx.authorized = self._authorized(ctx.request)
            if not ctx.authorized:
                return self._refused(ctx)
            raise
        if endpoint == "static" and args["name"] in self._static:
            return self._static_file(ctx.request, args["name"])  # public files of the package
        ctx.authorized = self._authorized(ctx.request)
        if not ctx.authorized:
            return self._refused(ctx)
        if endpoint == "static":
            raise NotFound(f"No file {args['name']!r} here.")
        if ctx.request.method == "POST":
            if self.read_only:
                return self.error_page(
                    ctx, 403, "This dashboard is read-only: it shows the queues, it cannot act."
                )
            if not self._csrf.check(ctx.request.cookies.get(COOKIE), ctx.request.form.get(FIELD)):
                return self.error_page(
                    ctx,
                    403,
                    "This form has expired or comes from another site: reload the page and "
                    "try again.",
                )
        return self._handlers[endpoint](ctx, **args)

    def _refused(self, ctx: Context) -> Response:
        return self.error_page(ctx, 403, "You are not authorized to use this dashboard.")

    def _authorized(self, request: Request) -> bool:
        if self.authorize is None:
            return True
        try:
            return bool(self.authorize(request.environ))
        except Exception:
            logger.exception("The dashboard's authorize hook failed; access refused")
            return False

    # -- answers ---------------------------------------------------------------------------

    def render(self, ctx: Context, template: str, status: int = 200, **values: Any) -> Response:
        page = self._templates.get_template(template).render(
            **{"page": None, **values},
            ctx=ctx,
            url=ctx.url,
            static=lambda name: f"{ctx.url('static', name=name)}?v={self._static[name][2]}",
            data=ctx.data,
            read_only=self.read_only,
            csrf_field=FIELD,
            csrf_token=ctx.csrf_token,
            refresh_seconds=self.refresh_seconds,
            title=self.title,
            notice=notice(ctx.request),
            now=datetime.now(UTC),
            here=without_notice(
                (ctx.request.script_root or "") + ctx.request.full_path.rstrip("?")
            ),
        )
        return Response(page, status=status, content_type="text/html; charset=utf-8")

    def error_page(self, ctx: Context, status: int, message: str) -> Response:
        """A page saying what went wrong, with its HTTP status; never a traceback."""
        try:
            return self.render(ctx, "error.html", status, code=status, message=message)
        except Exception:
            logger.exception("The dashboard's error page failed")
            return Response(f"{status}: {message}\n", status=status, content_type="text/plain")

    def _static_file(self, request: Request, name: str) -> Response:
        body, content_type, etag = self._static[name]
        response = Response(body, content_type=content_type)
        response.set_etag(etag)
        response.cache_control.public = True
        response.cache_control.max_age = 86400
        return response.make_conditional(request)


def _load_static() -> dict[str, tuple[bytes, str, str]]:
    files = {}
    for entry in resources.files("spinach_dashboard").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if suffix in STATIC_TYPES:
            body = entry.read_bytes()
            files[entry.name] = (body, STATIC_TYPES[suffix], hashlib.sha256(body).hexdigest()[:12])
    return files


def create_app(
    engine_or_broker: Engine | Broker,
    *,
    namespace: str | None = None,
    read_only: bool = False,
    authorize: Authorize | None = None,
    secret_key: str | bytes | None = None,
    refresh_seconds: float = 5.0,
    title: str = "Spinach",
) -> Dashboard:
    """The dashboard of a namespace, as a WSGI application to mount or to serve.

    Give the application's Engine (the dashboard then also lists the periodic tasks and
    limits its attached tasks declare, before a worker registers them), or a broker and a
    `namespace`. `read_only` shows everything and refuses
    every action. `authorize(environ) -> bool` decides who may use it (the host app's login);
    without it, anyone who reaches the URL may. `secret_key` signs the CSRF tokens (give the
    host app's own, e.g. Django's SECRET_KEY). `refresh_seconds`: how often an open page
    refreshes its live parts (0: never).
    """
    return Dashboard(
        engine_for(engine_or_broker, namespace),
        read_only=read_only,
        authorize=authorize,
        secret_key=secret_key,
        refresh_seconds=refresh_seconds,
        title=title,
    )
