"""Restriction of processing (GDPR Art. 18): asked for by the person or an admin on their
behalf, with a reason; lifted by an admin. What it changes: storage/repo/restriction.py
and docs/privacy.md ("Restriction of processing")."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessingRestriction, User
from storage.repo import restriction as repo
from storage.repo.logs import audit
from web.api import API, Ctx
from web.errors import ApiError
from web.review_common import audited_read
from web.schemas import Strict

TAGS = ("privacy",)


class RestrictBody(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class LiftBody(Strict):
    note: str = Field("", max_length=2000)


@API.op("GET", "/api/me/restriction", tags=TAGS, terminating_ok=True,
        summary="Whether processing of my data is restricted, and since when and why")
async def my_restriction(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        row = await repo.active(db, ctx.me.id)
    return {"restriction": repo.restriction_json(row) if row else None}


@API.op("POST", "/api/me/restriction", tags=TAGS, body=RestrictBody, status=201,
        errors={409: "already restricted"},
        summary="Ask to restrict processing of my data (kept, not used); an admin lifts it")
async def restrict_me(ctx: Ctx) -> dict[str, Any]:
    reason = ctx.body_as(RestrictBody).reason.strip()
    if not reason:
        raise ApiError(422, "invalid", "reason: say why processing should be restricted")
    async with ctx.services.db.session() as db:
        row = await repo.restrict(db, ctx.me.id, reason=reason, by=ctx.me.id)
        await audit(db, actor_id=ctx.me.id, action="restriction.start",
                    target=f"user:{ctx.me.id}", reason=reason, ip=ctx.ip)
        return {"restriction": repo.restriction_json(row)}


async def _target(db: AsyncSession, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise ApiError(404, "not_found", "no such user")
    return user


@API.op("POST", "/api/admin/users/{user_id:int}/restriction", tags=TAGS, auth="admin",
        body=RestrictBody, status=201, errors={409: "already restricted"},
        summary="Restrict processing of a person's data on their behalf (admins)")
async def restrict_user(ctx: Ctx) -> dict[str, Any]:
    reason = ctx.body_as(RestrictBody).reason.strip()
    if not reason:
        raise ApiError(422, "invalid", "reason: say why processing should be restricted")
    user_id = ctx.path_int("user_id")
    async with ctx.services.db.session() as db:
        await _target(db, user_id)
        row = await repo.restrict(db, user_id, reason=reason, by=ctx.me.id)
        await audit(db, actor_id=ctx.me.id, action="restriction.start",
                    target=f"user:{user_id}", reason=reason, ip=ctx.ip)
        return {"restriction": repo.restriction_json(row)}


@API.op("DELETE", "/api/admin/users/{user_id:int}/restriction", tags=TAGS, auth="admin",
        body=LiftBody, errors={409: "not restricted"},
        summary="Lift the restriction of processing of a person's data (admins)")
async def lift_restriction(ctx: Ctx) -> dict[str, Any]:
    note = ctx.body_as(LiftBody).note.strip()
    user_id = ctx.path_int("user_id")
    async with ctx.services.db.session() as db:
        await _target(db, user_id)
        row = await repo.lift(db, user_id, by=ctx.me.id, note=note)
        await audit(db, actor_id=ctx.me.id, action="restriction.lift",
                    target=f"user:{user_id}", reason=note, ip=ctx.ip)
        return {"restriction": repo.restriction_json(row)}


@API.op("GET", "/api/admin/restrictions", tags=TAGS, auth="admin",
        summary="The restrictions of processing in force (admins; audited)")
async def list_restrictions(ctx: Ctx) -> dict[str, Any]:
    await audited_read(ctx, action="restrictions.read", target="restrictions")
    async with ctx.services.db.session() as db:
        rows = await db.execute(
            select(ProcessingRestriction, User.display_name)
            .join(User, User.id == ProcessingRestriction.user_id)
            .where(ProcessingRestriction.lifted_at.is_(None))
            .order_by(ProcessingRestriction.requested_at)
        )
        return {"restrictions": [
            {**repo.restriction_json(r), "display_name": name} for r, name in rows
        ]}
