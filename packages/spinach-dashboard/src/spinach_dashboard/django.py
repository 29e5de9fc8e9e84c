"""Mount the dashboard in a Django project: ``path("spinach/", include(urls(dashboard)))``.

Django serves the dashboard's WSGI application through one view: the part of the URL after
the prefix becomes the dashboard's own path, and the Django request is in the environ under
``django.request``, so an `authorize` hook can use Django's login::

    def staff_only(environ):
        return environ["django.request"].user.is_staff

The dashboard protects its forms with its own CSRF token; the view is exempt from Django's.
"""

import io
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt

WSGIApp = Callable[..., Any]


def urls(app: WSGIApp) -> list[URLPattern]:
    """URL patterns serving `app` (the dashboard) under the prefix they are included at."""

    @csrf_exempt  # type: ignore[untyped-decorator]  # Django ships no type hints
    def dashboard(request: HttpRequest, path: str = "") -> HttpResponse:
        return _call(app, request, path)

    return [re_path(r"^(?P<path>.*)$", dashboard, name="spinach-dashboard")]


def _call(app: WSGIApp, request: HttpRequest, path: str) -> HttpResponse:
    environ = dict(request.META)
    full = request.path_info
    prefix = full[: len(full) - len(path)] if path and full.endswith(path) else full
    environ["SCRIPT_NAME"] = request.META.get("SCRIPT_NAME", "").rstrip("/") + prefix.rstrip("/")
    environ["PATH_INFO"] = "/" + path
    body = request.body  # read once by Django; handed over whole
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["django.request"] = request
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    response = HttpResponse(content, status=int(captured["status"].split(" ", 1)[0]))
    for name, value in captured["headers"]:
        if name.lower() == "set-cookie":
            continue
        response[name] = value
    for name, value in captured["headers"]:
        if name.lower() == "set-cookie":
            _set_cookie(response, value)
    return response


def _set_cookie(response: HttpResponse, header: str) -> None:
    """Copy a Set-Cookie header onto Django's response (it keeps cookies apart from headers)."""
    from http.cookies import SimpleCookie

    cookie: SimpleCookie = SimpleCookie()
    cookie.load(header)
    for morsel in cookie.values():
        response.cookies[morsel.key] = morsel.value
        for attribute in ("path", "httponly", "samesite", "secure", "max-age", "expires"):
            if morsel[attribute]:
                response.cookies[morsel.key][attribute] = morsel[attribute]
