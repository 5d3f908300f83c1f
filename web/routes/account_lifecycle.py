"""Termination with a grace month, reactivation, deletion, removing contributions.

Blocking lives with the accounts (``web/routes/users.py``, ``web.account_actions``).

Every admin action here leaves an audit row with its reason; a person's own
actions leave activity entries. Locking an account revokes its sessions in the
same transaction and then closes its live connections on every process.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from storage.authz import event_role
from storage.errors import DomainError
from storage.models import User, UserStatus
from storage.repo import lifecycle
from storage.repo.erasure import ErasureReport
from storage.repo.erasure_events import remove_contributions
from storage.repo.logs import audit, log_activity
from storage.repo.search import event_channels
from web.api import API, Ctx
from web.auth import clear_session_cookie
from web.errors import ApiError
from web.lifecycle_glue import after_erasure, close_connections
from web.routes.accounts import confirm_password
from web.schemas import ChannelName


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TerminateMine(Strict):
    password: str = Field(min_length=1, max_length=1024, description="confirms it is you")
    erase_content: bool = Field(False, description="also blank the text of kept contributions")
    immediately: bool = Field(False, description="delete now instead of after the grace month")


class AdminReason(Strict):
    reason: str = Field(min_length=3, max_length=1000)


class AdminTerminate(AdminReason):
    erase_content: bool = False
    immediately: bool = False


class RemoveContributions(AdminReason):
    user_id: int | None = Field(None, ge=1, description="whose; omit for all former participants")
    event_id: int | None = Field(None, ge=1, description="only in this event's channels")
    channel: ChannelName | None = None


class StatusOut(BaseModel):
    id: int
    status: str
    delete_after: str | None = None
    report: dict[str, Any] | None = None


def _status(user: User, report: dict[str, Any] | None = None) -> dict[str, Any]:
    return StatusOut(
        id=user.id,
        status=user.status,
        delete_after=user.delete_after.isoformat() if user.delete_after else None,
        report=report,
    ).model_dump()


@API.op(
    "POST",
    "/api/me/terminate",
    summary="Terminate my account: locked now, deleted after the grace month (or immediately)",
    body=TerminateMine,
    response=StatusOut,
    tags=("privacy",),
    terminating_ok=True,
    errors={
        403: "the password is not right",
        429: "too many wrong passwords or failed sign-ins for this account or IP; see Retry-After",
    },
)
async def terminate_mine(ctx: Ctx) -> JSONResponse:
    body = ctx.body_as(TerminateMine)
    services = ctx.services
    await confirm_password(ctx, ctx.me, body.password)
    async with services.db.session() as db:
        user = await lifecycle.load(db, ctx.me.id)
        if body.immediately:
            report = await lifecycle.delete_now(db, user, erase_content=body.erase_content)
            await audit(
                db,
                actor_id=user.id,
                action="user.delete",
                target=f"user:{user.id}",
                reason="deleted at the person's own request",
                detail=report.as_json(),
                ip=ctx.ip,
            )
        else:
            report = None
            if user.status == UserStatus.TERMINATING.value:
                raise ApiError(409, "cannot_terminate", "the account is already terminating")
            await lifecycle.terminate(
                db,
                user,
                grace_days=services.settings.termination_grace_days,
                erase_content=body.erase_content,
            )
            await log_activity(db, user_id=user.id, action="account_terminated", ip=ctx.ip)
        out = _status(user, report.as_json() if report else None)
    await close_connections(services, ctx.me.id, "account terminated")
    if report is not None:
        await after_erasure(services, report)
    response = JSONResponse(out)
    clear_session_cookie(response)
    return response


@API.op(
    "POST",
    "/api/me/reactivate",
    summary="Reactivate my account during its grace month",
    response=StatusOut,
    tags=("privacy",),
    terminating_ok=True,
)
async def reactivate_mine(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        user = await lifecycle.load(db, ctx.me.id)
        await lifecycle.reactivate(db, user)
        await log_activity(db, user_id=user.id, action="account_reactivated", ip=ctx.ip)
        return _status(user)


async def _admin_target(ctx: Ctx, db: AsyncSession) -> User:
    user = await lifecycle.load(db, ctx.path_int("id"))
    if user.id == ctx.me.id:
        raise ApiError(409, "self", "use /api/me/... for your own account")
    return user


async def _admin_audit(
    ctx: Ctx, db: AsyncSession, action: str, user: User, reason: str, **detail: Any
) -> None:
    await audit(
        db,
        actor_id=ctx.me.id,
        action=action,
        target=f"user:{user.id}",
        reason=reason,
        detail=detail,
        ip=ctx.ip,
    )


@API.op(
    "POST",
    "/api/admin/users/{id:int}/terminate",
    summary="Terminate an account (grace month, or immediately on the person's request)",
    auth="admin",
    body=AdminTerminate,
    response=StatusOut,
    tags=("admin users",),
)
async def terminate_user(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(AdminTerminate)
    services = ctx.services
    report = None
    async with services.db.session() as db:
        user = await _admin_target(ctx, db)
        if body.immediately:
            report = await lifecycle.delete_now(db, user, erase_content=body.erase_content)
            await _admin_audit(ctx, db, "user.delete", user, body.reason, **report.as_json())
        else:
            when = await lifecycle.terminate(
                db,
                user,
                grace_days=services.settings.termination_grace_days,
                erase_content=body.erase_content,
            )
            await _admin_audit(
                ctx, db, "user.terminate", user, body.reason, delete_after=when.isoformat()
            )
        out = _status(user, report.as_json() if report else None)
    await close_connections(services, user.id, "account terminated")
    if report is not None:
        await after_erasure(services, report)
    return out


@API.op(
    "POST",
    "/api/admin/users/{id:int}/reactivate",
    summary="Reactivate an account in its grace month",
    auth="admin",
    body=AdminReason,
    response=StatusOut,
    tags=("admin users",),
)
async def reactivate_user(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        user = await _admin_target(ctx, db)
        await lifecycle.reactivate(db, user)
        await _admin_audit(ctx, db, "user.reactivate", user, ctx.body_as(AdminReason).reason)
        return _status(user)


class RemovedOut(BaseModel):
    deleted_events: int
    tombstones: int


@API.op(
    "POST",
    "/api/admin/contributions/remove",
    summary="Remove contributions of people who have left (chains kept as blank tombstones)",
    auth="admin",
    body=RemoveContributions,
    response=RemovedOut,
    tags=("admin users",),
)
async def remove_left_contributions(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(RemoveContributions)
    async with ctx.services.db.session() as db:
        channels: list[str] | None = None
        if body.event_id is not None:
            channels = await event_channels(db, body.event_id)
        if body.channel is not None:
            channels = [c for c in (channels or [body.channel]) if c == body.channel]
        if body.user_id is not None:
            person = await lifecycle.load(db, body.user_id)
            if person.status == UserStatus.ACTIVE.value and body.event_id is None:
                raise DomainError(
                    "still_active",
                    "this person has not left: name the event they left (event_id)",
                    status=409,
                )
            if (
                body.event_id is not None
                and person.status == UserStatus.ACTIVE.value
                and await event_role(db, person.id, body.event_id) is not None
            ):
                raise DomainError(
                    "still_enrolled", "this person is still enrolled in the event", status=409
                )
        deleted, tombs, notices = await remove_contributions(
            db, user_id=body.user_id, channels=channels
        )
        await audit(
            db,
            actor_id=ctx.me.id,
            action="contributions.remove",
            target=f"user:{body.user_id}" if body.user_id else "former participants",
            reason=body.reason,
            detail={
                "event_id": body.event_id,
                "channel": body.channel,
                "deleted_events": deleted,
                "tombstones": tombs,
            },
            ip=ctx.ip,
        )
    await after_erasure(ctx.services, ErasureReport(deleted, tombs, notices=notices))
    return {"deleted_events": deleted, "tombstones": tombs}
