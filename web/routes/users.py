"""Admins block and unblock accounts."""

from __future__ import annotations

from typing import Any

from web.account_actions import block_user, unblock_user
from web.api import API, Ctx
from web.errors import ApiError
from web.schemas import OkOut, Reason, Strict


class ReasonBody(Strict):
    reason: Reason = ""


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
    body: ReasonBody = ctx.body
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
    body: ReasonBody = ctx.body
    await unblock_user(
        ctx.services, ctx.path_int("user_id"), actor_id=ctx.me.id, reason=body.reason, ip=ctx.ip
    )
    return {"status": "ok"}
