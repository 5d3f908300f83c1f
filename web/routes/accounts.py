"""Signing in and out, who am I, and setting a password from an invitation."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from storage.models import User, UserStatus
from storage.passwords import hash_password, needs_rehash, verify_password
from storage.repo import throttle
from storage.repo.accounts import create_session, revoke_session, user_by_email
from storage.repo.invitations import accept_invitation, join_offer
from storage.repo.logs import log_activity
from storage.settings import Settings
from web.api import API, Ctx
from web.auth import clear_session_cookie, csrf_token_for, session_token, set_session_cookie
from web.devices import known_device, set_device_cookie
from web.errors import ApiError
from web.routes.invitations import membership_changed
from web.schemas import Email, OkOut, Password, Strict


class LoginBody(Strict):
    email: Email
    password: Password


class AcceptBody(Strict):
    token: Annotated[str, Field(min_length=1, max_length=200)]
    password: Password


class JoinBody(Strict):
    token: Annotated[str, Field(min_length=1, max_length=200)]


class JoinOut(BaseModel):
    event_id: int
    status: str = "joined"


class MeOut(BaseModel):
    id: int
    email: str | None
    display_name: str
    is_admin: bool
    is_dpo: bool
    status: str
    csrf_token: str
    # Set while the account is terminating: when it will be deleted unless reactivated.
    delete_after: str | None = None


def me_payload(user: User, csrf: str) -> dict[str, Any]:
    return MeOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        is_admin=user.is_admin,
        is_dpo=user.is_dpo,
        status=user.status,
        csrf_token=csrf,
        delete_after=user.delete_after.isoformat() if user.delete_after else None,
    ).model_dump()


BAD_LOGIN = "wrong email or password"


def limits_of(settings: Settings) -> throttle.LoginLimits:
    return throttle.LoginLimits(
        settings.login_window_secs,
        settings.login_max_failures_account,
        settings.login_max_failures_ip,
    )


async def confirm_password(ctx: Ctx, user: User, password: str) -> None:
    """Check a signed-in person's password again (before terminating the account).

    Under the sign-in throttle, counted with the sign-in failures of the same account
    and IP, or of the same known device (web/devices.py): a session is no licence to
    guess the password behind it (403 while guessing, then 429 with Retry-After, whether
    or not the guess is right).
    """
    services = ctx.services
    limits = limits_of(services.settings)
    device = (
        known_device(ctx.request, services.settings.secret_key, user.email) if user.email else None
    )
    key = throttle.device_key(device) if device else (user.email or f"user:{user.id}")
    async with services.db.session() as db:
        attempt = await throttle.begin_attempt(db, limits, key, ctx.ip)
    async with services.db.session() as db:
        wait = await throttle.retry_after(
            db, limits, key, ctx.ip, exclude_id=attempt, count_ip=device is None
        )
        if wait is not None:
            await throttle.forget_attempt(db, attempt)
    if wait is not None:
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many wrong passwords; try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )
    if not await asyncio.to_thread(verify_password, user.password_hash, password):
        async with services.db.session() as db:
            await log_activity(db, user_id=user.id, action="password_check_failed", ip=ctx.ip)
        raise ApiError(403, "bad_password", "the password is not right")
    async with services.db.session() as db:
        await throttle.forget_attempt(db, attempt)


async def start_session(ctx: Ctx, user: User) -> JSONResponse:
    """Sign ``user`` in on this request: a new session and its cookie."""
    settings = ctx.services.settings
    async with ctx.services.db.session() as db:
        token = await create_session(
            db,
            user,
            max_secs=settings.session_max_secs,
            ip=ctx.ip,
            user_agent=ctx.request.headers.get("user-agent", ""),
        )
        await log_activity(db, user_id=user.id, action="login", ip=ctx.ip)
    response = JSONResponse(me_payload(user, csrf_token_for(settings.secret_key, token)))
    set_session_cookie(response, ctx.request, token)
    if user.email:
        # The owner's device from now on: let through the throttle others trip (web/devices.py).
        set_device_cookie(
            response, ctx.request, settings.secret_key, user.email, secure=settings.secure_cookies
        )
    return response


@API.op(
    "POST",
    "/api/login",
    summary="Sign in with email and password; sets the session cookie",
    auth="public",
    body=LoginBody,
    response=MeOut,
    tags=("accounts",),
    errors={
        401: "wrong email or password (the same answer for an unknown email)",
        403: "the password is right but the account is blocked, or password sign-in is off "
        "(PASSWORD_SIGNIN) and the account is not an admin's",
        429: "too many failed sign-ins for this account (from unknown devices), this device "
        "or IP; see Retry-After",
    },
)
async def login(ctx: Ctx) -> JSONResponse:
    body = ctx.body_as(LoginBody)
    services = ctx.services
    limits = limits_of(services.settings)
    # A browser the owner signed in from before has its own count (web/devices.py):
    # guesses from elsewhere do not lock the owner out.
    device = known_device(ctx.request, services.settings.secret_key, body.email)
    key = throttle.device_key(device) if device is not None else body.email
    # The attempt counts as a failure from before its password is checked (committed
    # first), so parallel guesses cannot all pass the limit (storage/repo/throttle.py).
    async with services.db.session() as db:
        attempt = await throttle.begin_attempt(db, limits, key, ctx.ip)
    async with services.db.session() as db:
        wait = await throttle.retry_after(
            db, limits, key, ctx.ip, exclude_id=attempt, count_ip=device is None
        )
        if wait is not None:
            await throttle.forget_attempt(db, attempt)  # refused unchecked: no failure
        user = None if wait is not None else await user_by_email(db, body.email)
    if wait is not None:
        # Checked before the password: a correct guess while throttled tells nothing.
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many failed sign-ins; try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )
    # Argon2 takes tens of milliseconds of CPU: off the event loop.
    ok = await asyncio.to_thread(
        verify_password, user.password_hash if user else None, body.password
    )
    if not ok or user is None:
        # One answer for an unknown email and a wrong password; both are counted
        # (the attempt's row stays as the failure).
        async with services.db.session() as db:
            await log_activity(db, user_id=None, action="login_failed", ip=ctx.ip)
        raise ApiError(401, "bad_credentials", BAD_LOGIN)
    async with services.db.session() as db:
        await throttle.forget_attempt(db, attempt)  # the password was right
    # An account in its termination grace month may sign in, to a session limited
    # to reactivating, exporting or deleting (operations declared `terminating_ok`).
    if user.status not in (UserStatus.ACTIVE.value, UserStatus.TERMINATING.value):
        raise ApiError(403, f"account_{user.status}", f"this account is {user.status}")
    if not services.settings.password_signin and not user.is_admin:
        # PASSWORD_SIGNIN=off: admins keep their password as the break-glass (the provider
        # may be down); everyone else signs in through the provider.
        name = services.settings.oidc.provider_name if services.settings.oidc else "the provider"
        raise ApiError(403, "password_signin_off", f"sign in with {name} instead")
    async with services.db.session() as db:
        await throttle.clear_account(db, body.email)
        if device is not None:
            await throttle.clear_account(db, key)
        if user.password_hash and needs_rehash(user.password_hash):
            fresh = await db.get(User, user.id)
            if fresh is not None:
                fresh.password_hash = hash_password(body.password)
    return await start_session(ctx, user)


@API.op(
    "POST",
    "/api/logout",
    summary="Sign out; revokes this session",
    auth="public",
    write_limited=False,  # signing out always works
    response=OkOut,
    tags=("accounts",),
)
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


@API.op(
    "GET",
    "/api/me",
    summary="The signed-in user and their CSRF token",
    response=MeOut,
    tags=("accounts",),
    terminating_ok=True,
)
async def me(ctx: Ctx) -> dict[str, Any]:
    token = session_token(ctx.request)
    if token is None:
        raise RuntimeError("no session token")  # auth="user" guarantees a valid session
    return me_payload(ctx.me, csrf_token_for(ctx.services.settings.secret_key, token))


@API.op(
    "POST",
    "/api/invitations/accept",
    summary="Set the password from an invitation link and sign in",
    auth="public",
    body=AcceptBody,
    response=MeOut,
    tags=("accounts",),
    errors={
        400: "the password is too weak (the reason says why)",
        404: "unknown invitation",
        409: "the account has a password already: the link only offers to join an event",
        410: "the invitation was used already or has expired",
    },
)
async def accept(ctx: Ctx) -> JSONResponse:
    """Also accepts every offer to join an event among the person's open links."""
    body = ctx.body_as(AcceptBody)
    async with ctx.services.db.session() as db:
        user, joined = await accept_invitation(db, body.token, body.password)
        await log_activity(db, user_id=user.id, action="invitation_accepted", ip=ctx.ip)
    await membership_changed(ctx, [user.id] if joined else [])
    return await start_session(ctx, user)


@API.op(
    "POST",
    "/api/invitations/join",
    summary="Accept a mailed offer to join an event (an account that has a password)",
    auth="public",
    body=JoinBody,
    response=JoinOut,
    tags=("accounts",),
    errors={
        404: "unknown invitation",
        409: "the link is no offer, or the account has no password yet (set it with the link)",
        410: "the offer was used already, has expired or was withdrawn",
    },
)
async def join(ctx: Ctx) -> dict[str, Any]:
    """The link was mailed to the account's own address: following it is the person's
    consent to join (and to the event's staff seeing their profile). Signs nobody in."""
    body = ctx.body_as(JoinBody)
    async with ctx.services.db.session() as db:
        user, event_id, changed = await join_offer(db, body.token)
        await log_activity(
            db, user_id=user.id, action="offer_accepted", target=f"event:{event_id}", ip=ctx.ip
        )
    await membership_changed(ctx, [user.id] if changed else [])
    return JoinOut(event_id=event_id).model_dump()
