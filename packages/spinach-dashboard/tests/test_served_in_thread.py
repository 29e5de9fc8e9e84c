"""The dashboard served on a thread stops cleanly: its loop ends and its connections close."""

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from spinach_dashboard.server import served_in_thread


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"hi"]


def test_the_server_thread_ends_and_closes_kept_alive_connections() -> None:
    errors: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        for _ in range(5):
            with served_in_thread(hello, threads=2) as server:
                port = int(server.effective_port)
                kept = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                kept.request("GET", "/")  # HTTP/1.1: the connection stays open afterwards
                assert kept.getresponse().read() == b"hi"
                [thread] = [t for t in threading.enumerate() if t.name == "dashboard-server"]
            assert not thread.is_alive()  # the loop ended: nothing left in its map
            assert kept.sock is not None
            kept.sock.settimeout(5)
            assert kept.sock.recv(1) == b""  # the server closed the kept-alive connection
            kept.close()
            refused = socket.socket()
            try:
                assert refused.connect_ex(("127.0.0.1", port)) != 0  # no longer listening
            finally:
                refused.close()
    finally:
        threading.excepthook = previous
    assert errors == []


def test_a_stop_on_a_loop_already_woken_is_clean() -> None:
    # waitress queues a thunk, then writes to its trigger's pipe: a loop woken by an earlier
    # pull (a request thread's) may run the thunk in between, and the close it runs closes
    # that pipe before the write. The pause below leaves the loop all the time it needs.
    with served_in_thread(hello, threads=1) as server:
        trigger = server.trigger
        wake = trigger._physical_pull

        def pull_with_the_loop_awake() -> None:
            wake()  # an earlier pull: the loop is awake and looks for thunks
            time.sleep(0.05)
            wake()  # the stop's own

        trigger._physical_pull = pull_with_the_loop_awake
        [thread] = [t for t in threading.enumerate() if t.name == "dashboard-server"]
    assert not thread.is_alive()
    assert trigger._closed
