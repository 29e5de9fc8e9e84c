"""The standalone dashboard: `spinach dashboard` serves it with waitress, a threaded WSGI server.

waitress is pure Python, maintained by the Pylons project, and serves several requests at once
on a pool of threads (wsgiref serves one at a time, so one slow page would stall the others).
It binds to 127.0.0.1 unless told otherwise: the dashboard is an admin surface.
"""

import base64
import binascii
import hmac
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from spinach import Engine
from spinach_dashboard.app import Dashboard, create_app
from spinach_dashboard.data import redis_location

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Environment variables of the standalone server's basic authentication.
PASSWORD_VARIABLE = "SPINACH_DASHBOARD_PASSWORD"
USER_VARIABLE = "SPINACH_DASHBOARD_USER"
DEFAULT_USER = "admin"

#: Threads serving requests at once.
THREADS = 8


class BasicAuth:
    """Ask for a user name and password (HTTP basic authentication) before every request.

    Use it behind TLS (a reverse proxy) off the loopback interface: basic authentication sends
    the password with every request.
    """

    def __init__(self, app: "WSGIApplication", user: str, password: str) -> None:
        if not password:
            raise ValueError("The dashboard's password must not be empty")
        self.app = app
        self._expected = f"{user}:{password}".encode()

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        if self._allowed(environ.get("HTTP_AUTHORIZATION", "")):
            return self.app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("WWW-Authenticate", 'Basic realm="Spinach dashboard", charset="UTF-8"'),
            ],
        )
        return [b"401: this dashboard needs its user name and password.\n"]

    def _allowed(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, self._expected)


def build(
    engine: Engine, *, read_only: bool = False, environ: dict[str, str] | None = None
) -> "WSGIApplication":
    """The standalone dashboard of `engine`, behind basic authentication when a password is set."""
    environ = dict(os.environ if environ is None else environ)
    app: Dashboard | BasicAuth = create_app(engine, read_only=read_only)
    password = environ.get(PASSWORD_VARIABLE)
    if password:
        app = BasicAuth(app, environ.get(USER_VARIABLE) or DEFAULT_USER, password)
    return app


def serve(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    read_only: bool = False,
    out: TextIO,
) -> None:
    """Serve the dashboard until interrupted (Ctrl-C or SIGTERM)."""
    import waitress

    app = build(engine, read_only=read_only)
    server: Any = waitress.create_server(app, host=host, port=port, threads=THREADS, ident=None)
    shown_host = f"[{host}]" if ":" in host else host
    protected = "password required" if isinstance(app, BasicAuth) else "no password"
    print(
        f"Spinach dashboard of namespace {engine.namespace} ({redis_location(engine.broker)}) on "
        f"http://{shown_host}:{server.effective_port}/ ({protected}"
        f"{', read-only' if read_only else ''}). Ctrl-C stops it.",
        file=out,
        flush=True,
    )
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@contextmanager
def served_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = THREADS
) -> Iterator[Any]:
    """Serve `app` with waitress on a thread of this process while the block runs (tests,
    tools, an application that embeds the dashboard); yield the server (`effective_port`).

    The server is closed from its own thread: waitress 3.0.2's close() called from another
    thread closes sockets under its select() (EBADF, its loop dies: Pylons/waitress#468).
    """
    import waitress

    server: Any = waitress.create_server(app, host=host, port=port, threads=threads)
    thread = threading.Thread(target=server.run, name="dashboard-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        # Its request threads first (a thread that ends a request wakes the loop through the
        # trigger, which must still be open), then its sockets, from the loop.
        server.task_dispatcher.shutdown()
        trigger = server.trigger
        # waitress's pull_trigger queues a thunk, then writes to the trigger's pipe: a loop
        # woken by an earlier pull may run the thunk in between, and this one closes that pipe
        # (the write then fails, or lands in whatever reused its number). The loop runs
        # thunks under the trigger's lock: holding it across both steps orders them.
        with trigger.lock:
            trigger.thunks.append(lambda: _close(server))
            trigger._physical_pull()
        thread.join(10)


def _close(server: Any) -> None:
    """Close a waitress server and its connections (run in its loop: between two selects)."""
    for channel in list(server.active_channels.values()):
        channel.close()
    server.close()
