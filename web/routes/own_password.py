"""A person's own password: change it while signed in; "Forgot password?" and its link.

The forgot-password answer is the same whether or not the address has an account
(status, body, and as far as we can, time): the request path only counts the request
against the throttles, then hands the lookup and the mail to a background task of the
hub; the mailer sends the queued mail (storage/repo/own_password.py, docs/privacy.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from storage.models import User
from storage.repo import throttle
from storage.repo.account_mail import mail_reset_link
from storage.repo.accounts import token_hash
from storage.repo.logs import log_activity
from storage.repo.own_password import (
    change_password,
    request_reset,
    reset_link_for,
    reset_with_link,
)
from web.api import API, Ctx
from web.auth import session_token
from web.errors import ApiError
from web.lifecycle_glue import close_connections
from web.routes.accounts import confirm_password
from web.schemas import Email, Password, Strict
from web.services import Services

# The throttles of "Forgot password?" count requests over this window. Each address
# and each client has its own count, kept apart from the sign-in failures by a prefix.
RESET_WINDOW_SECS = 3600
RESET_KEY = "reset:"
FORGOT_ANSWER = (
    "if an active account has this address, a link to choose a new password is on its way "
    "to it; check your mail"
)

Token = Annotated[str, Field(min_length=1, max_length=200)]


class ChangeBody(Strict):
    current_password: Password
    new_password: Password


class ChangedOut(BaseModel):
    status: str = "changed"
    sessions_ended: int  # the person's other sessions, now signed out


class ForgotBody(Strict):
    email: Email


class ForgotOut(BaseModel):
    status: str = "requested"
    message: str = FORGOT_ANSWER


class ResetBody(Strict):
    token: Token
    password: Password


class ResetLinkOut(BaseModel):
    email: str | None
    display_name: str


class ResetOut(BaseModel):
    status: str = "reset"
    sessions_ended: int


@API.op(
    "POST",
    "/api/me/password",
    summary="Change my password (the current one confirms it is me); my other sessions end",
    body=ChangeBody,
    response=ChangedOut,
    tags=("accounts",),
    errors={
        400: "the new password is too weak (the reason says why)",
        403: "the current password is not right",
        429: "too many wrong passwords (counted with the sign-in failures); see Retry-After",
    },
)
async def change_mine(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(ChangeBody)
    token = session_token(ctx.request)
    if token is None:
        raise RuntimeError("no session token")  # auth="user" guarantees a valid session
    await confirm_password(ctx, ctx.me, body.current_password)
    async with ctx.services.db.session() as db:
        me = await db.get(User, ctx.me.id)
        if me is None:
            raise ApiError(401, "unauthenticated", "sign in first")
        ended = await change_password(
            db, me, body.new_password, keep_session_hash=token_hash(token)
        )
        await log_activity(db, user_id=me.id, action="password_changed", ip=ctx.ip)
    # The ended sessions' sockets close on every process once the commit is announced
    # (storage/account_changes.py); this one's stay.
    return ChangedOut(sessions_ended=ended).model_dump()


async def _count_request(ctx: Ctx, email: str) -> None:
    """One more "Forgot password?" request for the address and the client: 429 past
    either limit (an unknown address is counted exactly like a known one)."""
    settings = ctx.services.settings
    limits = throttle.LoginLimits(
        RESET_WINDOW_SECS, settings.password_reset_per_address, settings.password_reset_per_ip
    )
    key, client = RESET_KEY + email, RESET_KEY + ctx.ip
    async with ctx.services.db.session() as db:
        attempt = await throttle.begin_attempt(db, limits, key, client)
    async with ctx.services.db.session() as db:
        wait = await throttle.retry_after(db, limits, key, client, exclude_id=attempt)
        if wait is not None:
            await throttle.forget_attempt(db, attempt)
    if wait is not None:
        raise ApiError(
            429,
            "too_many_requests",
            f"too many requests for a new password; try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )


async def mail_reset(services: Services, email: str, ip: str) -> None:
    """Look the address up and, for an active account, queue the mail with a new link."""
    settings = services.settings
    async with services.db.session() as db:
        found = await request_reset(db, email, ttl_secs=settings.password_reset_ttl_secs, ip=ip)
        if found is not None:
            user, token = found
            await mail_reset_link(
                db,
                user,
                token,
                public_url=settings.public_url,
                ttl_secs=settings.password_reset_ttl_secs,
            )


@API.op(
    "POST",
    "/api/password/forgot",
    summary="Forgot password: mail a link to choose a new one to this address's account; "
    "the same answer whether or not the address has one",
    auth="public",
    body=ForgotBody,
    response=ForgotOut,
    status=202,
    tags=("accounts",),
    errors={429: "too many requests for this address or from this client; see Retry-After"},
)
async def forgot(ctx: Ctx) -> dict[str, Any]:
    """Blocked, terminating and deleted accounts get no link (and the same answer)."""
    email = ctx.body_as(ForgotBody).email.strip().lower()
    await _count_request(ctx, email)
    services = ctx.services
    if services.hub is not None:
        # Out of the request path: looking up and queueing take longer for a real
        # account, and the answer's timing must not say which addresses have one.
        services.hub.tasks.spawn(mail_reset(services, email, ctx.ip), "password-reset-mail")
    else:  # an app without its lifespan (some tests)
        await mail_reset(services, email, ctx.ip)
    return ForgotOut().model_dump()


@API.op(
    "GET",
    "/api/password/reset/{token}",
    summary="Who a password reset link is for (while it is valid)",
    auth="public",
    response=ResetLinkOut,
    tags=("accounts",),
    errors={404: "unknown link", 410: "used or expired", 403: "the account is not active"},
)
async def show_reset_link(ctx: Ctx) -> dict[str, Any]:
    token = ctx.path_str("token")
    async with ctx.services.db.session() as db:
        _, user = await reset_link_for(db, token)
    return ResetLinkOut(email=user.email, display_name=user.display_name).model_dump()


@API.op(
    "POST",
    "/api/password/reset",
    summary="Choose a new password with a mailed reset link; every session of the account "
    "ends (sign in with the new password)",
    auth="public",
    body=ResetBody,
    response=ResetOut,
    tags=("accounts",),
    errors={
        400: "the password is too weak (the reason says why)",
        403: "the account is not active",
        404: "unknown link",
        410: "the link was used already or has expired",
    },
)
async def reset_mine(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(ResetBody)
    async with ctx.services.db.session() as db:
        user, ended = await reset_with_link(db, body.token, body.password)
        await log_activity(db, user_id=user.id, action="password_reset", ip=ctx.ip)
    await close_connections(ctx.services, user.id, "password reset")
    return ResetOut(sessions_ended=ended).model_dump()
