"""The trainers' room controls (issue 17): settings, mutes, removed messages, the held queue.

Trainers and organisers of the event, and admins, use them (``require_staff``); every
member reads the room's public state. Each change is audited in its transaction
(storage/repo/room_controls.py), broadcast after commit, and told to every process
(``Hub.room_changed``), whose publish checks read the room again (realtime/room_rules.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from storage.authz import ROLE_RANK, event_role, may_view_event
from storage.errors import NotFound
from storage.models import Role, RoomSettings
from storage.repo import room_controls as repo
from storage.repo import room_held
from storage.repo.channel_log import StoredEvent
from storage.repo.logs import audit
from web.api import API, Ctx
from web.schemas import Id, OkOut, Strict

TAGS = ("room controls",)
STAFF_ONLY = {403: "not a trainer or organiser of the event", 404: "no such event"}
Word = Annotated[str, Field(min_length=1, max_length=repo.MAX_WORD_CHARS)]


class RoomBody(Strict):
    slow_secs: int | None = Field(
        None, ge=0, le=repo.MAX_SLOW_SECS, description="one message per N s per person; 0 off"
    )
    frozen: bool | None = Field(None, description="only trainers may post (chat and board)")
    words: list[Word] | None = Field(
        None, max_length=repo.MAX_WORDS, description="posts with one of these are held"
    )
    announcement: str | None = Field(
        None, max_length=repo.MAX_ANNOUNCEMENT_CHARS, description="pinned at the top; '' clears"
    )


class MuteBody(Strict):
    user_id: Id
    minutes: int = Field(ge=1, le=repo.MAX_MUTE_MINUTES)


class RemoveBody(Strict):
    reason: str = Field(min_length=1, max_length=500)


class DecideBody(Strict):
    approve: bool


class RoomOut(BaseModel):
    event_id: int
    slow_secs: int
    frozen: bool
    announcement: str
    announcement_at: str | None
    muted_until: str | None = Field(None, description="when my own mute ends")
    staff: bool = Field(description="I control this room")
    words: list[Word] | None = Field(None, description="staff only")
    mutes: list[dict[str, Any]] | None = Field(None, description="staff only")


class MuteOut(BaseModel):
    user_id: int
    until: str


async def _room(ctx: Ctx, event_id: int) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        if not await may_view_event(db, ctx.me, event_id):
            raise NotFound("event")
        role = await event_role(db, ctx.me.id, event_id)
        staff = ctx.me.is_admin or (role is not None and ROLE_RANK[role] >= ROLE_RANK[Role.TRAINER])
        row = await db.get(RoomSettings, event_id)
        until = await repo.my_mute(db, event_id, ctx.me.id)
        out: dict[str, Any] = {
            "event_id": event_id, **repo.public_state(row), "staff": staff,
            "muted_until": until.isoformat() if until else None,
        }
        if staff:
            out["words"] = list(row.words) if row is not None else []
            out["mutes"] = await repo.mutes_of(db, event_id)
        return out


async def _after(ctx: Ctx, event_id: int, events: list[StoredEvent], *, rules: bool) -> None:
    hub = ctx.services.hub
    if hub is None:
        return
    if rules:
        await hub.room_changed(event_id)
    await hub.broadcast(events)


@API.op(
    "GET", "/api/events/{event_id:int}/room",
    summary="The room's controls as I see them: slow mode, freeze, the pinned announcement, "
    "my mute; for its trainers also the word list and the mutes (members of the event)",
    response=RoomOut, tags=TAGS, errors={404: "no such event (or not a member)"},
)
async def get_room(ctx: Ctx) -> dict[str, Any]:
    return await _room(ctx, ctx.path_int("event_id"))


@API.op(
    "PATCH", "/api/events/{event_id:int}/room",
    summary="Change the room's slow mode, freeze, word list or pinned announcement (trainers); "
    "everyone in the room sees the change live (room.updated)",
    body=RoomBody, response=RoomOut, tags=TAGS, errors=STAFF_ONLY,
)
async def change_room(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(RoomBody)
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        await repo.require_staff(db, ctx.me, event_id)
        change = repo.SettingsChange(body.slow_secs, body.frozen, body.words, body.announcement)
        _, news = await repo.update_settings(db, event_id, ctx.me, change, ip=ctx.ip)
    await _after(ctx, event_id, news, rules=True)
    return await _room(ctx, event_id)


@API.op(
    "POST", "/api/events/{event_id:int}/room/mutes",
    summary="Mute a participant in this event for some minutes: their chat and board posts "
    "are refused until then (trainers); they are told (chat.muted)",
    body=MuteBody, response=MuteOut, tags=TAGS,
    errors={**STAFF_ONLY, 400: "not a participant (trainers cannot be muted)"},
)
async def mute(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(MuteBody)
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        await repo.require_staff(db, ctx.me, event_id)
        until, notice = await repo.mute(db, event_id, body.user_id, body.minutes, ctx.me, ip=ctx.ip)
    await _after(ctx, event_id, [notice], rules=True)
    return {"user_id": body.user_id, "until": until.isoformat()}


@API.op(
    "DELETE", "/api/events/{event_id:int}/room/mutes/{user_id:int}",
    summary="End a participant's mute now (trainers); they are told (chat.unmuted)",
    response=OkOut, tags=TAGS, errors={**STAFF_ONLY, 404: "no such event or mute"},
)
async def unmute(ctx: Ctx) -> dict[str, Any]:
    event_id, user_id = ctx.path_int("event_id"), ctx.path_int("user_id")
    async with ctx.services.db.session() as db:
        await repo.require_staff(db, ctx.me, event_id)
        notice = await repo.unmute(db, event_id, user_id, ctx.me, ip=ctx.ip)
    await _after(ctx, event_id, [notice], rules=True)
    return {"status": "ok"}


@API.op(
    "POST", "/api/events/{event_id:int}/room/messages/{message_id:int}/remove",
    summary="Remove a chat message of the event's chat or a group chat, with a reason "
    "(trainers): the room sees a placeholder (message.removed), the author is told "
    "(chat.removed), admins still read the original",
    body=RemoveBody, response=OkOut, tags=TAGS,
    errors={**STAFF_ONLY, 404: "no such message in this event", 409: "removed before"},
)
async def remove_message(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(RemoveBody)
    event_id, message_id = ctx.path_int("event_id"), ctx.path_int("message_id")
    async with ctx.services.db.session() as db:
        await repo.require_staff(db, ctx.me, event_id)
        events = await repo.remove_message(db, event_id, message_id, body.reason, ctx.me, ip=ctx.ip)
    await _after(ctx, event_id, events, rules=False)
    return {"status": "ok"}


@API.op(
    "POST", "/api/events/{event_id:int}/room/messages/{message_id:int}/restore",
    summary="Put a removed chat message back (trainers): message.restored carries its text",
    response=OkOut, tags=TAGS,
    errors={**STAFF_ONLY, 404: "no such message in this event", 409: "not removed"},
)
async def restore_message(ctx: Ctx) -> dict[str, Any]:
    event_id, message_id = ctx.path_int("event_id"), ctx.path_int("message_id")
    async with ctx.services.db.session() as db:
        await repo.require_staff(db, ctx.me, event_id)
        events = await repo.restore_message(db, event_id, message_id, ctx.me, ip=ctx.ip)
    await _after(ctx, event_id, events, rules=False)
    return {"status": "ok"}


@API.op(
    "GET", "/api/events/{event_id:int}/room/held",
    summary="Posts held for review by the word list, oldest first (trainers; an admin's "
    "read is audited)",
    tags=TAGS, errors=STAFF_ONLY,
)
async def held_queue(ctx: Ctx) -> dict[str, Any]:
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        await repo.require_staff(db, ctx.me, event_id)
        role = await event_role(db, ctx.me.id, event_id)
        if role is None or ROLE_RANK[role] < ROLE_RANK[Role.TRAINER]:
            # An admin reading posts nobody but the event's trainers sees: audited.
            await audit(db, actor_id=ctx.me.id, action="review.held", target=f"event:{event_id}",
                        ip=ctx.ip)
        return {"held": await room_held.queue(db, event_id)}


@API.op(
    "POST", "/api/events/{event_id:int}/room/held/{held_id:int}",
    summary="Approve a held post (published as its author's) or reject it (the author is "
    "told: chat.rejected) (trainers)",
    body=DecideBody, tags=TAGS,
    errors={**STAFF_ONLY, 404: "no such held post", 409: "decided before"},
)
async def decide_held(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(DecideBody)
    event_id, held_id = ctx.path_int("event_id"), ctx.path_int("held_id")
    async with ctx.services.db.session() as db:
        await repo.require_staff(db, ctx.me, event_id)
        row, events = await room_held.decide(db, event_id, held_id, body.approve, ctx.me, ip=ctx.ip)
        out = room_held.held_json(row)
    await _after(ctx, event_id, events, rules=False)
    return out
