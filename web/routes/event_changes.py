"""Organisers change or cancel an event; members acknowledge the banner; "who has it"."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.authz import has_event_role
from storage.errors import Forbidden, NotFound
from storage.models import Event, EventChange, Role
from storage.repo.event_changes import ChangeRequest, apply_change, record_seen, who_has_it
from storage.repo.logs import log_activity
from web.api import API, Ctx
from web.schemas import When

TAGS = ("event changes",)


class ChangeBody(BaseModel):
    starts_at: When | None = None
    ends_at: When | None = None
    location: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    cancel: bool = False
    note: str = Field(default="", max_length=2000, description="shown in the banner and the mail")


class ChangeOut(BaseModel):
    id: int
    event_id: int
    kind: str
    changes: dict[str, Any]
    note: str
    actor_id: int | None
    news_seq: int | None
    campaign_id: int | None
    created_at: dt.datetime


def _out(c: EventChange) -> dict[str, Any]:
    return ChangeOut.model_validate(c, from_attributes=True).model_dump(mode="json")


@API.op(
    "POST",
    "/api/events/{event_id:int}/changes",
    summary="Change an event's time, place or description, or cancel it (organisers). "
    "Stores the history, posts a news event (live banner) and mails everyone enrolled",
    body=ChangeBody,
    response=ChangeOut,
    status=201,
    tags=TAGS,
    errors={403: "not an organiser of the event", 404: "no such event", 409: "event cancelled"},
)
async def change_event(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(ChangeBody)
    event_id = ctx.path_int("event_id")
    services = ctx.services
    async with services.db.session() as db:
        if await db.get(Event, event_id) is None:
            raise NotFound("event")
        if not await has_event_role(db, ctx.me, event_id, Role.ORGANISER):
            raise Forbidden("only organisers of the event may change it")
        change, news = await apply_change(
            db,
            event_id=event_id,
            actor=ctx.me,
            public_url=services.settings.public_url,
            req=ChangeRequest(
                starts_at=body.starts_at,
                ends_at=body.ends_at,
                location=body.location,
                description=body.description,
                cancel=body.cancel,
                note=body.note,
            ),
        )
        await log_activity(
            db,
            user_id=ctx.me.id,
            action=f"event_{change.kind}",
            target=f"event:{event_id}",
            ip=ctx.ip,
        )
    if services.hub is not None:
        await services.hub.broadcast([news])
    return _out(change)


@API.op(
    "GET",
    "/api/events/{event_id:int}/changes",
    summary="The event's change history, newest first (members of the event)",
    tags=TAGS,
)
async def list_changes(ctx: Ctx) -> dict[str, Any]:
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        if not (ctx.me.is_admin or await has_event_role(db, ctx.me, event_id, Role.PARTICIPANT)):
            raise NotFound("event")
        rows = (
            await db.execute(
                select(EventChange)
                .where(EventChange.event_id == event_id)
                .order_by(EventChange.id.desc())
            )
        ).scalars()
        return {"changes": [_out(c) for c in rows]}


async def _change(db: AsyncSession, event_id: int, change_id: int) -> EventChange:
    change = await db.get(EventChange, change_id)
    if change is None or change.event_id != event_id:
        raise NotFound("event change")
    return change


@API.op(
    "POST",
    "/api/events/{event_id:int}/changes/{change_id:int}/seen",
    summary="Acknowledge that the change was shown to me (the live banner); idempotent. "
    "Clients on the WebSocket may send the hub's seen frame instead",
    tags=TAGS,
)
async def ack_change(ctx: Ctx) -> dict[str, Any]:
    event_id, change_id = ctx.path_int("event_id"), ctx.path_int("change_id")
    async with ctx.services.db.session() as db:
        if not await has_event_role(db, ctx.me, event_id, Role.PARTICIPANT):
            raise NotFound("event change")
        await _change(db, event_id, change_id)
        first = await record_seen(db, change_id=change_id, user_id=ctx.me.id, via="http")
    return {"seen": True, "first": first}


@API.op(
    "GET",
    "/api/events/{event_id:int}/changes/{change_id:int}/reach",
    summary="Who has the change: seen live, mailed (with status), or neither "
    "(trainers and organisers of the event)",
    tags=TAGS,
)
async def change_reach(ctx: Ctx) -> dict[str, Any]:
    event_id, change_id = ctx.path_int("event_id"), ctx.path_int("change_id")
    async with ctx.services.db.session() as db:
        if not await has_event_role(db, ctx.me, event_id, Role.TRAINER):
            raise Forbidden("only trainers and organisers of the event see who has it")
        change = await _change(db, event_id, change_id)
        reach = await who_has_it(db, change)
    people = [
        {
            "user_id": r.user_id,
            "display_name": r.display_name,
            "role": r.role,
            "email": r.email,
            "state": r.state,
            "seen_at": r.seen_at.isoformat() if r.seen_at else None,
            "seen_via": r.seen_via,
            "mail_status": r.mail_status,
            "mail_attempts": r.mail_attempts,
            "mail_error": r.mail_error,
        }
        for r in reach
    ]
    summary = {s: sum(1 for p in people if p["state"] == s) for s in ("seen", "mailed", "neither")}
    return {"change": _out(change), "summary": summary, "people": people}
