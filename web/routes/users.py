"""Admins find accounts, block and unblock them, and reset their passwords.

Termination and reactivation live in ``web/routes/account_lifecycle.py``.
Listing accounts is an admin read of personal data (names, emails), so each
page writes one audit row like the log reviews do (``web/review_common.py``);
each change writes its own audit row with the reason.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from storage.models import User, UserStatus
from storage.repo import accounts, lifecycle
from storage.repo.invitations import reset_password
from storage.repo.logs import audit
from web.account_actions import block_user, unblock_user
from web.api import API, Ctx
from web.errors import ApiError
from web.lifecycle_glue import close_connections
from web.review_common import audited_read
from web.routes.invitations import invite_url
from web.schemas import OkOut, Reason, Strict


class ReasonBody(Strict):
    reason: Reason = ""


class UserQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(
        None, min_length=1, max_length=320, description="part of the email or display name"
    )
    status: UserStatus | None = Field(
        None, description="only accounts in this state; without it, all but deleted ones"
    )
    after_id: int | None = Field(None, ge=1, description="cursor: next_after of the last page")
    limit: int = Field(50, ge=1, le=200)


class UserRow(BaseModel):
    id: int
    email: str | None
    display_name: str
    status: str
    is_admin: bool
    is_dpo: bool
    created_at: str
    delete_after: str | None


class UserPage(BaseModel):
    items: list[UserRow]
    next_after: int | None


class ResetOut(BaseModel):
    user_id: int
    reset_url: str
    expires_at: str
    sessions_revoked: int


def _row(user: User) -> dict[str, Any]:
    return UserRow(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        status=user.status,
        is_admin=user.is_admin,
        is_dpo=user.is_dpo,
        created_at=user.created_at.isoformat(),
        delete_after=user.delete_after.isoformat() if user.delete_after else None,
    ).model_dump()


@API.op(
    "GET",
    "/api/admin/users",
    summary="Find accounts by part of the email or name, and by status; by id, paged",
    auth="admin",
    query=UserQuery,
    response=UserPage,
    tags=("admin users",),
)
async def list_users(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query_as(UserQuery)
    async with ctx.services.db.session() as db:
        users, nxt = await accounts.list_users(
            db, text=q.q, status=q.status, after_id=q.after_id, limit=q.limit
        )
    detail = {**q.model_dump(mode="json", exclude_none=True), "returned": len(users)}
    await audited_read(ctx, action="users.read", target="users", detail=detail)
    return {"items": [_row(u) for u in users], "next_after": nxt}


@API.op(
    "POST",
    "/api/admin/users/{user_id:int}/reset-password",
    summary="Reset a password: the old one stops working, sessions end, a one-time "
    "set-password link is returned",
    auth="admin",
    body=ReasonBody,
    response=ResetOut,
    tags=("admin users",),
    errors={
        404: "no such account",
        409: "your own account, or one that is terminating or deleted",
    },
)
async def reset(ctx: Ctx) -> dict[str, Any]:
    """The link is the invitation link (``/invite/<token>``): the admin passes it on and
    never learns the new password."""
    body = ctx.body_as(ReasonBody)
    services = ctx.services
    user_id = ctx.path_int("user_id")
    if user_id == ctx.me.id:
        raise ApiError(409, "self", "you cannot reset your own password here; sign out and "
                       "ask another admin, or use `classhub user reset-password`")
    async with services.db.session() as db:
        user = await lifecycle.load(db, user_id)
        done = await reset_password(
            db, user, created_by=ctx.me.id, ttl_secs=services.settings.invitation_ttl_secs
        )
        await audit(
            db,
            actor_id=ctx.me.id,
            action="user.reset_password",
            target=f"user:{user.id}",
            reason=body.reason,
            detail={
                "by": "admin",
                "sessions_revoked": done.sessions_revoked,
                "link_expires_at": done.expires_at.isoformat(),
            },
            ip=ctx.ip,
        )
    await close_connections(services, user_id, "password reset")
    return ResetOut(
        user_id=user_id,
        reset_url=invite_url(services.settings.public_url, done.token),
        expires_at=done.expires_at.isoformat(),
        sessions_revoked=done.sessions_revoked,
    ).model_dump()


@API.op(
    "POST",
    "/api/users/{user_id:int}/block",
    summary="Block an account: its sessions end and its live connections close",
    auth="admin",
    body=ReasonBody,
    response=OkOut,
    tags=("users",),
)
async def block(ctx: Ctx) -> dict[str, Any]:
    user_id = ctx.path_int("user_id")
    if user_id == ctx.me.id:
        raise ApiError(409, "cannot_block_self", "you cannot block your own account")
    body = ctx.body_as(ReasonBody)
    await block_user(ctx.services, user_id, actor_id=ctx.me.id, reason=body.reason, ip=ctx.ip)
    return {"status": "ok"}


@API.op(
    "POST",
    "/api/users/{user_id:int}/unblock",
    summary="Unblock an account",
    auth="admin",
    body=ReasonBody,
    response=OkOut,
    tags=("users",),
)
async def unblock(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(ReasonBody)
    await unblock_user(
        ctx.services, ctx.path_int("user_id"), actor_id=ctx.me.id, reason=body.reason, ip=ctx.ip
    )
    return {"status": "ok"}
