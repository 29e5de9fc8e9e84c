"""A small HTTP client for a dashboard served on loopback: keeps cookies, follows no redirect."""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class HttpClient:
    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        self.base = base.rstrip("/")
        self.headers = headers or {}
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def request(self, path: str, form: dict[str, str] | None = None) -> Answer:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.base + path, data=data, headers=self.headers)
        try:
            with self._opener.open(request, timeout=10) as response:
                return Answer(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as e:
            return Answer(e.code, dict(e.headers), e.read().decode())

    def get(self, path: str) -> Answer:
        return self.request(path)

    def post(self, path: str, form: dict[str, str], page: str = "/") -> Answer:
        """POST `form` with the CSRF token read from `page`, as a browser's form would."""
        match = TOKEN.search(self.get(page).text)
        assert match, f"no CSRF token on {page}"
        return self.request(path, {"csrf_token": match.group(1), **form})
