"""Known devices: a signed cookie that lets an account's owner through its sign-in throttle.

Ten wrong passwords from anywhere used to lock the owner out for the whole window
(``LOGIN_WINDOW_SECS``): anyone who knew an address could keep its owner out. OWASP's
answer ("Slow down online guessing attacks with device cookies") is used here. Each
successful sign-in (and setting a password from a link) sets ``classhub_device``: a
random nonce plus a hash of the account's email, signed with SECRET_KEY (itsdangerous,
timestamped, valid ``DEVICE_COOKIE_SECS``). A sign-in that presents a valid device
cookie for the address it names is counted in that device's own bucket (the same
per-account limit, its own failures only) and not against the account's or the IP's
shared counts; so is a password confirmation (``confirm_password``) from that browser.
Every other attempt is counted as before. So guesses from elsewhere
lock out only other unknown devices, and a stolen device cookie buys an attacker no
more guesses than ``LOGIN_MAX_FAILURES_ACCOUNT`` per window, for that one account.
The cookie carries no secret and nothing readable about the person (the email is hashed).
"""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

from storage.repo.throttle import failure_key

DEVICE_COOKIE = "classhub_device"
# How long a device stays known after its last successful sign-in (renewed by each).
DEVICE_COOKIE_SECS = 180 * 24 * 3600


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="classhub.device")


def _account_tag(email: str) -> str:
    return hashlib.sha256(b"device:" + failure_key(email).encode()).hexdigest()[:32]


def known_device(conn: HTTPConnection, secret: str, email: str) -> str | None:
    """The device's nonce when the request carries a valid device cookie for ``email``."""
    raw = conn.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 512:
        return None
    try:
        value = _serializer(secret).loads(raw, max_age=DEVICE_COOKIE_SECS)
    except BadSignature:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, str) for v in value)
        or value[0] != _account_tag(email)
    ):
        return None
    return str(value[1])


def set_device_cookie(
    response: Response, conn: HTTPConnection, secret: str, email: str, *, secure: bool
) -> None:
    """Mark this browser as a device ``email``'s owner signed in from (one account per
    browser: the latest sign-in's)."""
    nonce = known_device(conn, secret, email) or secrets.token_urlsafe(16)
    response.set_cookie(
        DEVICE_COOKIE,
        _serializer(secret).dumps([_account_tag(email), nonce]),
        max_age=DEVICE_COOKIE_SECS,
        httponly=True,
        samesite="strict",
        secure=secure or conn.url.scheme == "https",
        path="/api",  # sign-in and password confirmation; no page or socket needs it
    )
