"""Learning groups inside an event: create, list, add and remove members."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz
from storage.models import LearningGroup
from storage.repo import groups as repo
from storage.repo.events import get_event
from storage.repo.logs import audit
from web.api import API, Ctx
from web.errors import ApiError
from web.routes.invitations import membership_changed
from web.schemas import DisplayName, Id, OkOut, Strict


class GroupBody(Strict):
    name: DisplayName
    member_ids: list[Id] = Field(default_factory=list)


class MemberBody(Strict):
    user_id: Id


class GroupMemberOut(BaseModel):
    user_id: int
    display_name: str


class GroupOut(BaseModel):
    id: int
    event_id: int
    name: str
    members: list[GroupMemberOut]


class GroupList(BaseModel):
    groups: list[GroupOut]


async def group_out(db: AsyncSession, group: LearningGroup) -> dict[str, Any]:
    people = await repo.group_members(db, group.id)
    return GroupOut(
        id=group.id,
        event_id=group.event_id,
        name=group.name,
        members=[GroupMemberOut(user_id=u.id, display_name=u.display_name) for u in people],
    ).model_dump()


async def _managing(ctx: Ctx, db: AsyncSession, event_id: int) -> None:
    if not await authz.may_manage_groups(db, ctx.me, event_id):
        raise ApiError(403, "forbidden", "only trainers, organisers and admins manage groups")


@API.op(
    "POST",
    "/api/events/{event_id:int}/groups",
    summary="Create a learning group (optionally with its first members)",
    body=GroupBody,
    response=GroupOut,
    status=201,
    tags=("groups",),
)
async def create_group(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(GroupBody)
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        await get_event(db, event_id)
        await _managing(ctx, db, event_id)
        group = await repo.create_group(db, event_id, body.name)
        for user_id in dict.fromkeys(body.member_ids):
            await repo.add_member(db, group, user_id)
        await audit(
            db, actor_id=ctx.me.id, action="group.create", target=f"group:{group.id}", ip=ctx.ip
        )
        out = await group_out(db, group)
    await membership_changed(ctx, list(body.member_ids))
    return out


@API.op(
    "GET",
    "/api/events/{event_id:int}/groups",
    summary="The learning groups of an event, with their members",
    response=GroupList,
    tags=("groups",),
)
async def list_groups(ctx: Ctx) -> dict[str, Any]:
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        await get_event(db, event_id)
        if not await authz.may_view_event(db, ctx.me, event_id):
            raise ApiError(403, "forbidden", "you are not enrolled")
        found = await repo.groups_of_event(db, event_id)
        return {"groups": [await group_out(db, g) for g in found]}


@API.op(
    "POST",
    "/api/groups/{group_id:int}/members",
    summary="Add an enrolled person to a learning group",
    body=MemberBody,
    response=GroupOut,
    tags=("groups",),
)
async def add_member(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(MemberBody)
    async with ctx.services.db.session() as db:
        group = await repo.get_group(db, ctx.path_int("group_id"))
        await _managing(ctx, db, group.event_id)
        changed = await repo.add_member(db, group, body.user_id)
        out = await group_out(db, group)
    if changed:
        await membership_changed(ctx, [body.user_id])
    return out


@API.op(
    "DELETE",
    "/api/groups/{group_id:int}/members/{user_id:int}",
    summary="Remove a person from a learning group",
    response=OkOut,
    tags=("groups",),
)
async def remove_member(ctx: Ctx) -> dict[str, Any]:
    user_id = ctx.path_int("user_id")
    async with ctx.services.db.session() as db:
        group = await repo.get_group(db, ctx.path_int("group_id"))
        await _managing(ctx, db, group.event_id)
        if not await repo.remove_member(db, group, user_id):
            raise ApiError(404, "not_found", "this person is not in the group")
    await membership_changed(ctx, [user_id])
    return {"status": "ok"}
