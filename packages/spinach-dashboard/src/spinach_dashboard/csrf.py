"""CSRF protection of the dashboard's forms: a cookie and a token that must match it.

Every page sets a random cookie (HttpOnly, SameSite=Strict, scoped to the dashboard's path)
and puts a token derived from it in each form. A POST is carried out only when its token
matches its cookie: another site can make a browser send the cookie, never read it, so it
cannot write the token. With a `secret_key` the token is an HMAC of the cookie, so a cookie
planted by a neighbouring subdomain is worthless too; without one the token is the cookie
itself (a double-submit cookie), which works across processes with no shared secret.
"""

import hashlib
import hmac
import secrets

COOKIE = "spinach_dashboard_csrf"
FIELD = "csrf_token"


class Csrf:
    def __init__(self, secret_key: str | bytes | None = None) -> None:
        if isinstance(secret_key, str):
            secret_key = secret_key.encode()
        if secret_key is not None and len(secret_key) < 16:
            raise ValueError("secret_key must be at least 16 bytes long (or None)")
        self._key = secret_key

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def valid_cookie(value: str | None) -> bool:
        return value is not None and 32 <= len(value) <= 64 and value.isascii()

    def token(self, cookie: str) -> str:
        """The token that forms carry for this cookie."""
        if self._key is None:
            return cookie
        return hmac.new(self._key, cookie.encode(), hashlib.sha256).hexdigest()

    def check(self, cookie: str | None, token: str | None) -> bool:
        """Whether a POST's token matches its cookie (in constant time)."""
        if not self.valid_cookie(cookie) or not token:
            return False
        assert cookie is not None
        return hmac.compare_digest(self.token(cookie).encode(), token.encode())
