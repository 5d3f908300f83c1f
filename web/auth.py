"""Session cookies, the signed-in user of a request, and CSRF protection.

The cookie carries a random token signed with SECRET_KEY (itsdangerous); the
server keeps only the token's hash, so sessions are revocable and a leaked
database yields no usable cookie. CSRF: every state-changing request made with
the session cookie must carry ``X-CSRF-Token``, an HMAC of the session token
that a page from another origin cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from itsdangerous import BadSignature, Signer
from starlette.requests import HTTPConnection
from starlette.responses import Response

from storage.models import User
from storage.repo.accounts import token_hash
from web.errors import ApiError
from web.services import services_of

COOKIE_NAME = "classhub_session"
CSRF_HEADER = "x-csrf-token"


def _signer(secret: str) -> Signer:
    return Signer(secret, salt="classhub.session")


def sign_token(secret: str, token: str) -> str:
    return _signer(secret).sign(token).decode()


def unsign_token(secret: str, value: str) -> str | None:
    try:
        return _signer(secret).unsign(value).decode()
    except BadSignature:
        return None


def csrf_token_for(secret: str, session_token: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def session_token(conn: HTTPConnection) -> str | None:
    raw = conn.cookies.get(COOKIE_NAME)
    if not raw:
        return None
    return unsign_token(services_of(conn).settings.secret_key, raw)


async def current_user(conn: HTTPConnection, *, allow_terminating: bool = False) -> User | None:
    """The signed-in user of a request or WebSocket, looked up once per request.

    An account in its termination grace month counts as signed in only where
    ``allow_terminating`` is given (operations declared ``terminating_ok``).
    """
    key = "classhub.user.limited" if allow_terminating else "classhub.user"
    cached: Any = conn.scope.get(key, ...)
    if cached is not ...:
        return cached  # type: ignore[no-any-return]
    user: User | None = None
    token = session_token(conn)
    if token is not None:
        # The rules of storage.repo.accounts.user_for_session, cached for a few
        # seconds per process and dropped at once on revocation (web/signins.py).
        user = await services_of(conn).signins.user_for_hash(
            token_hash(token), allow_terminating=allow_terminating
        )
    conn.scope[key] = user
    return user


def check_csrf(conn: HTTPConnection, user: User | None) -> None:
    """Refuse a state-changing request that rides on the cookie without the CSRF header."""
    token = session_token(conn)
    if token is None or user is None:
        # No ambient authority to abuse: a stale cookie of an ended session
        # must not stand in the way of signing in again.
        return
    expected = csrf_token_for(services_of(conn).settings.secret_key, token)
    given = conn.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(expected, given):
        raise ApiError(
            403, "csrf_failed", "missing or wrong X-CSRF-Token header (get it from GET /api/me)"
        )


def set_session_cookie(response: Response, conn: HTTPConnection, token: str) -> None:
    settings = services_of(conn).settings
    response.set_cookie(
        COOKIE_NAME,
        sign_token(settings.secret_key, token),
        # The server ends idle sessions; the cookie only needs to outlive the longest one.
        max_age=settings.session_max_secs,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies or conn.url.scheme == "https",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/")
