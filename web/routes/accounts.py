"""Signing in and out, and who am I."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from storage.passwords import hash_password, needs_rehash, verify_password
from storage.repo.accounts import create_session, revoke_session, user_by_email
from storage.repo.logs import log_activity
from storage.models import User
from web.api import API, Ctx
from web.auth import (
    clear_session_cookie,
    csrf_token_for,
    session_token,
    set_session_cookie,
)
from web.errors import ApiError


class LoginBody(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class MeOut(BaseModel):
    id: int
    email: str | None
    display_name: str
    is_admin: bool
    is_dpo: bool
    status: str
    csrf_token: str


def me_payload(user: User, csrf: str) -> dict[str, Any]:
    return MeOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        is_admin=user.is_admin,
        is_dpo=user.is_dpo,
        status=user.status,
        csrf_token=csrf,
    ).model_dump()


BAD_LOGIN = "wrong email or password"


@API.op(
    "POST",
    "/api/login",
    summary="Sign in with email and password; sets the session cookie",
    auth="public",
    body=LoginBody,
    response=MeOut,
    tags=("accounts",),
)
async def login(ctx: Ctx) -> JSONResponse:
    body: LoginBody = ctx.body
    services = ctx.services
    settings = services.settings
    async with services.db.session() as db:
        user = await user_by_email(db, body.email)
        ok = verify_password(user.password_hash if user else None, body.password)
        if not ok or user is None or user.status != "active":
            # One answer for unknown user, wrong password and locked account.
            await log_activity(db, user_id=None, action="login_failed", ip=ctx.ip)
            raise ApiError(401, "bad_credentials", BAD_LOGIN)
        if user.password_hash and needs_rehash(user.password_hash):
            user.password_hash = hash_password(body.password)
        token = await create_session(
            db,
            user,
            ttl_secs=settings.session_idle_secs,
            ip=ctx.ip,
            user_agent=ctx.request.headers.get("user-agent", ""),
        )
        await log_activity(db, user_id=user.id, action="login", ip=ctx.ip)
    response = JSONResponse(me_payload(user, csrf_token_for(settings.secret_key, token)))
    set_session_cookie(response, ctx.request, token)
    return response


@API.op("POST", "/api/logout", summary="Sign out; revokes this session", auth="public", tags=("accounts",))
async def logout(ctx: Ctx) -> JSONResponse:
    token = session_token(ctx.request)
    if token is not None:
        async with ctx.services.db.session() as db:
            await revoke_session(db, token)
            if ctx.user is not None:
                await log_activity(db, user_id=ctx.user.id, action="logout", ip=ctx.ip)
    response = JSONResponse({"status": "signed out"})
    clear_session_cookie(response)
    return response


@API.op("GET", "/api/me", summary="The signed-in user and their CSRF token", response=MeOut, tags=("accounts",))
async def me(ctx: Ctx) -> dict[str, Any]:
    token = session_token(ctx.request)
    assert token is not None  # auth="user" guarantees a valid session
    return me_payload(ctx.me, csrf_token_for(ctx.services.settings.secret_key, token))
