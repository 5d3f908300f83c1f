"""Shared set-up for the data-protection tests: events, enrolments and messages via the ORM."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import update

from storage.models import ChannelEvent, Enrolment, Event, GroupMember, LearningGroup, Role, utcnow
from storage.repo.channel_log import NewEvent, StoredEvent, append


def word() -> str:
    """A token no other test writes, so searches on the shared database stay isolated."""
    return "w" + uuid.uuid4().hex[:12]


async def make_event(
    services: Any,
    *members: tuple[Any, Role],
    ends_at: dt.datetime | None = None,
    group_members: tuple[Any, ...] = (),
    **columns: Any,
) -> tuple[Event, LearningGroup]:
    now = utcnow()
    end = ends_at or now + dt.timedelta(hours=2)
    async with services.db.session() as db:
        ev = Event(title="Event", starts_at=end - dt.timedelta(hours=2), ends_at=end, **columns)
        db.add(ev)
        await db.flush()
        for user, role in members:
            db.add(Enrolment(user_id=user.id, event_id=ev.id, role=role.value))
        grp = LearningGroup(event_id=ev.id, name="G")
        db.add(grp)
        await db.flush()
        for user in group_members:
            db.add(GroupMember(group_id=grp.id, user_id=user.id))
    return ev, grp


async def post(
    services: Any,
    channel: str,
    author: Any | None,
    text: str | None = None,
    *,
    type: str = "message",
    ref_id: int | None = None,
    body: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> StoredEvent:
    payload = dict(body or {})
    if text is not None:
        payload["text"] = text
    async with services.db.session() as db:
        (ev,) = await append(
            db,
            [
                NewEvent(
                    channel,
                    type,
                    payload,
                    author.id if author is not None else None,
                    uuid.uuid4().hex if author is not None else None,
                    ref_id,
                )
            ],
        )
        if at is not None:
            await db.execute(
                update(ChannelEvent).where(ChannelEvent.id == ev.id).values(created_at=at)
            )
    return ev
