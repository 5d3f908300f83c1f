"""Requests made with an API key (``Authorization: Bearer chk_...``): who, which scope,
how fast, and the activity-log line of every call (docs/integration.md).

A key authenticates a suite's server, not a person: no cookie, so no CSRF check;
its scope is checked per operation; its calls are limited per key
(``API_KEY_RATE``/``API_KEY_BURST``) and each is one activity-log line naming
the key (``user_id`` empty: nobody signed in made it).
"""

from __future__ import annotations

import math

from starlette.requests import Request

from storage.repo import api_keys
from storage.repo.api_keys import KeyInfo
from storage.repo.logs import log_activity
from web.errors import ApiError
from web.services import services_of

BEARER = "bearer "


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[: len(BEARER)].lower() != BEARER:
        return None
    return header[len(BEARER) :].strip() or None


async def key_of(request: Request) -> KeyInfo:
    """The request's live API key, its call counted against its rate; else 401 or 429
    (neither is logged: a flood of them must not become a flood of writes)."""
    token = bearer_token(request)
    if token is None:
        raise ApiError(
            401, "unauthenticated", "send an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    services = services_of(request)
    async with services.db.session() as db:
        key = await api_keys.authenticate(db, token)
    if key is None:
        raise ApiError(
            401, "unauthenticated", "unknown or revoked API key",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    request.scope["classhub.api_key"] = key
    hub = services.hub
    if hub is not None:
        wait = await hub.rate_limits.api_key_limit.take(key.id)
        if wait:
            raise ApiError(
                429, "rate_limited", f"too many calls with this key; try again in {wait:.1f} s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
                details={"retry_after": round(wait, 3)},
            )
    return key


def require_scope(key: KeyInfo, scope: str | None) -> None:
    if scope is not None and scope not in key.scopes:
        raise ApiError(403, "forbidden", f"this API key lacks the scope '{scope}'")


async def log_call(request: Request, key: KeyInfo, status: int) -> None:
    """One activity-log line per call of a known key within its rate (refused ones too)."""
    client = request.client.host if request.client else ""
    target = f"key={key.name} {request.method} {request.url.path} -> {status}"
    async with services_of(request).db.session() as db:
        await log_activity(db, user_id=None, action="api_key.call", target=target, ip=client)
