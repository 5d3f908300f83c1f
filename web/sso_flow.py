"""What OpenID Connect and LTI sign-ins share: the signed cookie that binds a flow to the
browser that started it, the page that says why a sign-in was refused, and the session
that ends it (the same as a password sign-in's: web/routes/accounts.py)."""

from __future__ import annotations

import html
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from storage.errors import DomainError
from storage.models import User
from storage.repo.accounts import create_session
from storage.repo.logs import log_activity
from web.auth import set_session_cookie
from web.devices import set_device_cookie
from web.services import Services
from web.sso_errors import SsoRefused

# A sign-in that takes longer than this at the provider starts again from our page.
FLOW_SECS = 600

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto">
<h1>{title}</h1><p>{message}</p><p><a href="/signin">Back to sign-in</a></p></body></html>"""
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"


def refusal_page(error: DomainError) -> HTMLResponse:
    return HTMLResponse(
        PAGE.format(title="Sign-in refused", message=html.escape(error.message)),
        status_code=error.status,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": PAGE_CSP,
            "X-Classhub-Error": error.code,
        },
    )


def _serializer(secret: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"classhub.sso.{salt}")


def set_flow_cookie(
    response: Response,
    request: Request,
    services: Services,
    name: str,
    value: dict[str, Any],
    *,
    path: str,
    cross_site_post: bool = False,
) -> None:
    """``cross_site_post``: the flow comes back as a POST from another site (an LTI launch),
    which only a SameSite=None cookie survives; browsers take that only with Secure, so
    over plain http (development) it is Lax and the platform must be on the same site."""
    secure = services.settings.secure_cookies or request.url.scheme == "https"
    samesite: Literal["lax", "none"] = "none" if cross_site_post and secure else "lax"
    response.set_cookie(
        name,
        _serializer(services.settings.secret_key, name).dumps(value),
        max_age=FLOW_SECS,
        httponly=True,
        samesite=samesite,
        secure=secure,
        path=path,
    )


def read_flow_cookie(request: Request, services: Services, name: str) -> dict[str, Any]:
    raw = request.cookies.get(name)
    if not raw or len(raw) > 4096:
        raise SsoRefused(
            "flow_missing", "this sign-in was not started in this browser, or took too long"
        )
    try:
        value = _serializer(services.settings.secret_key, name).loads(raw, max_age=FLOW_SECS)
    except BadSignature:
        raise SsoRefused("flow_missing", "this sign-in expired or was tampered with") from None
    if not isinstance(value, dict):
        raise SsoRefused("flow_missing", "this sign-in's cookie is not ours")
    return value


def safe_next(value: str | None, default: str = "/events") -> str:
    """Only a path on this site: a sign-in never ends on someone else's page."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


async def sign_in(
    request: Request, services: Services, user: User, *, via: str, target: str
) -> RedirectResponse:
    """A new session for ``user`` and a redirect to ``target`` (a path on this site)."""
    settings = services.settings
    ip = request.client.host if request.client else ""
    async with services.db.session() as db:
        token = await create_session(
            db,
            user,
            max_secs=settings.session_max_secs,
            ip=ip,
            user_agent=request.headers.get("user-agent", ""),
        )
        await log_activity(db, user_id=user.id, action="login", target=f"via {via}", ip=ip)
    response = RedirectResponse(safe_next(target), status_code=303)
    set_session_cookie(response, request, token)
    if user.email:
        set_device_cookie(
            response, request, settings.secret_key, user.email, secure=settings.secure_cookies
        )
    return response
