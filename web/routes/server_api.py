"""The server API's publish (scope ``publish``) and reads (scope ``read``): a suite posts into
an event's or group's chat and reads channel history and an event's presence.

A publish takes the WebSocket path's writer (``Hub.publish``: the one batch writer, answered
after commit, the sequence in the answer). As a named user the idempotency key is that
user's client id (the store's unique key, as for a WebSocket publish); as the system (no
author) the store has no unique key, so repeats are found by a lookup held under a lock
per key in this process (docs/integration.md says what that leaves open).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from realtime.errors import PublishFailed
from realtime.protocol.codec import body_problem
from storage import authz, event_types
from storage.channels import ChannelKind, ChannelRef, parse_channel
from storage.models import ChannelEvent, Event, User
from storage.repo import paging
from storage.repo.channel_log import NewEvent
from web.api import API, Ctx
from web.errors import ApiError
from web.routes.server_provision import ExternalId
from web.schemas import ChannelName, Id, Strict, Timestamp

# Where a suite may write and read: an event's chat, board and news, a group's chat and
# board; never a direct conversation or a person's own channel.
READABLE = {ChannelKind.CHAT, ChannelKind.BOARD, ChannelKind.NEWS, ChannelKind.GROUP,
            ChannelKind.GROUP_BOARD}
WRITABLE = {ChannelKind.CHAT, ChannelKind.GROUP}
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[\x21-\x7e]+$")]
_system_locks: dict[str, asyncio.Lock] = {}


class PublishBody(Strict):
    channel: ChannelName
    body: dict[str, Any] = Field(description="the message, as a WebSocket publish's body")
    idempotency_key: IdempotencyKey
    as_user: ExternalId | None = Field(None, description="publish as this user (external id)")
    as_user_id: Id | None = Field(None, description="publish as this user (classhub id)")
    ref: Id | None = Field(None, description="the event this message answers")

    @model_validator(mode="after")
    def _one_author(self) -> PublishBody:
        if self.as_user is not None and self.as_user_id is not None:
            raise ValueError("give as_user or as_user_id, not both (neither: the system)")
        return self


class PublishOut(BaseModel):
    channel: str
    seq: int
    event_id: int
    duplicate: bool


class HistoryQuery(Strict):
    channel: ChannelName
    before_id: int | None = Field(None, ge=1, le=2**63 - 1)
    limit: int = Field(100, ge=1, le=500)


class EventOut(BaseModel):
    id: int
    seq: int
    type: str
    author_id: int | None
    ref: int | None
    body: dict[str, Any]
    created_at: Timestamp


class HistoryOut(BaseModel):
    items: list[EventOut]
    next_before: int | None


class PresenceQuery(Strict):
    event_id: int | None = Field(None, ge=1, le=2**63 - 1)
    external_event_id: ExternalId | None = None
    after_user_id: int | None = Field(None, ge=0, le=2**63 - 1)
    limit: int = Field(200, ge=1, le=1000)


class PresentOut(BaseModel):
    id: int
    name: str


class PresenceOut(BaseModel):
    event_id: int
    present: list[PresentOut]
    next_after: int | None


def _channel(name: str, kinds: set[ChannelKind]) -> ChannelRef:
    ref = parse_channel(name)
    if ref is None or ref.kind not in kinds:
        raise ApiError(
            422, "invalid", "channel: the server API "
            + ("publishes into event and group chats" if kinds is WRITABLE else
               "reads event and group channels, never direct messages or personal channels"),
        )
    return ref


async def _author(ctx: Ctx, body: PublishBody, ref: ChannelRef) -> User | None:
    if body.as_user is None and body.as_user_id is None:
        return None
    async with ctx.services.db.session() as db:
        cond = (User.external_id == body.as_user) if body.as_user is not None else (
            User.id == body.as_user_id)
        user = (await db.execute(select(User).where(cond))).scalar_one_or_none()
        if user is None:
            raise ApiError(404, "not_found", "no such user")
        if not await authz.may_publish(db, user, ref):
            raise ApiError(403, "forbidden", f"this user may not publish to {ref.name}")
    return user


async def _stored_system_publish(ctx: Ctx, channel: str, client_id: str) -> PublishOut | None:
    async with ctx.services.db.session() as db:
        row = (
            await db.execute(
                select(ChannelEvent.id, ChannelEvent.seq).where(
                    ChannelEvent.channel == channel, ChannelEvent.author_id.is_(None),
                    ChannelEvent.client_id == client_id,
                )
            )
        ).first()
    if row is None:
        return None
    return PublishOut(channel=channel, seq=row.seq, event_id=row.id, duplicate=True)


@API.op(
    "POST", "/api/server/publish",
    summary="Publish a message into an event's or group's chat, as the system or a named user; "
    "answered after commit with its sequence number",
    auth="key", scope="publish", body=PublishBody, response=PublishOut, tags=("server api",),
    example={"channel": "event:7:chat", "body": {"text": "The recording is online."},
             "idempotency_key": "announce-2027-03-01-1"},
)
async def publish(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(PublishBody)
    problem = body_problem(body.body)
    if problem is None and len(json.dumps(body.body)) > ctx.services.settings.max_frame_bytes:
        problem = "the message is larger than MAX_FRAME_BYTES"
    if problem is not None:
        raise ApiError(422, "invalid", f"body: {problem}")
    ref = _channel(body.channel, WRITABLE)
    hub = ctx.services.hub
    if hub is None:
        raise ApiError(503, "unavailable", "the hub is not running")
    author = await _author(ctx, body, ref)
    key = ctx.api_key
    client_id = f"k{key.id}:{body.idempotency_key}"
    event = NewEvent(ref.name, event_types.MESSAGE, body.body,
                     author.id if author else None, client_id, body.ref)
    try:
        if author is not None:
            stored = await hub.publish(event)
        else:
            lock = _system_locks.setdefault(client_id, asyncio.Lock())
            try:
                async with lock:
                    found = await _stored_system_publish(ctx, ref.name, client_id)
                    if found is not None:
                        return found.model_dump()
                    stored = await hub.publish(event)
            finally:
                # A waiter still holds this lock; a later call finds the stored event.
                _system_locks.pop(client_id, None)
    except PublishFailed:
        raise ApiError(503, "store_unavailable", "the message could not be stored; send it "
                       "again with the same idempotency_key") from None
    return PublishOut(channel=stored.channel, seq=stored.seq, event_id=stored.id,
                      duplicate=stored.duplicate).model_dump()


@API.op(
    "GET", "/api/server/history",
    summary="A channel's stored events, newest first, a page at a time (next_before is the "
    "cursor)",
    auth="key", scope="read", query=HistoryQuery, response=HistoryOut, tags=("server api",),
)
async def history(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query_as(HistoryQuery)
    ref = _channel(q.channel, READABLE)
    e = ChannelEvent
    stmt = select(e.id, e.seq, e.type, e.author_id, e.ref_id, e.body, e.created_at)
    async with ctx.services.db.session() as db:
        items, next_before = await paging.page(
            db, stmt, e.id, [e.channel == ref.name], before_id=q.before_id, limit=q.limit,
            shape=lambda r: EventOut(
                id=r.id, seq=r.seq, type=r.type, author_id=r.author_id, ref=r.ref_id,
                body=r.body, created_at=r.created_at,
            ),
        )
    return HistoryOut(items=items, next_before=next_before).model_dump(mode="json")


@API.op(
    "GET", "/api/server/presence",
    summary="Who attends an event now (by classhub or external id), by user id, a page at a "
    "time",
    auth="key", scope="read", query=PresenceQuery, response=PresenceOut, tags=("server api",),
)
async def presence(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query_as(PresenceQuery)
    if (q.event_id is None) == (q.external_event_id is None):
        raise ApiError(422, "invalid", "give event_id or external_event_id")
    async with ctx.services.db.session() as db:
        cond = (Event.id == q.event_id) if q.event_id is not None else (
            Event.external_id == q.external_event_id)
        event_id = (await db.execute(select(Event.id).where(cond))).scalar_one_or_none()
    if event_id is None:
        raise ApiError(404, "not_found", "no such event")
    hub = ctx.services.hub
    present = hub.roster.present(event_id) if hub is not None else {}
    after = q.after_user_id or 0
    ids = sorted(u for u in present if u > after)
    shown = ids[: q.limit]
    return PresenceOut(
        event_id=event_id,
        present=[PresentOut(id=u, name=present[u]) for u in shown],
        next_after=shown[-1] if len(ids) > q.limit else None,
    ).model_dump()
