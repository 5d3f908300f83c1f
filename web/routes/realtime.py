"""HTTP side of the hub: single-use WebSocket tokens for non-browser clients."""

from __future__ import annotations

from pydantic import BaseModel

from realtime.tokens import TOKEN_TTL_SECS, issue_token
from storage.repo.accounts import token_hash
from web.api import API, Ctx
from web.auth import session_token
from web.errors import ApiError


class WsTokenOut(BaseModel):
    token: str
    expires_in: int


@API.op(
    "POST",
    "/api/ws-token",
    summary="A single-use token to open /ws?token=... within a minute (for non-browser clients)",
    response=WsTokenOut,
    tags=("realtime",),
)
async def ws_token(ctx: Ctx) -> WsTokenOut:
    raw = session_token(ctx.request)
    if raw is None:  # pragma: no cover - auth="user" guarantees a session
        raise ApiError(401, "unauthenticated", "sign in first")
    settings = ctx.services.settings
    return WsTokenOut(
        token=issue_token(settings.secret_key, ctx.me.id, token_hash(raw)),
        expires_in=TOKEN_TTL_SECS,
    )
