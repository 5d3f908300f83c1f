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


def second_client(app: Any) -> Any:
    import httpx

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def find_everywhere(services: Any, needle: str) -> list[str]:
    """Every table (FTS shadow tables included) with a row whose any column contains ``needle``."""
    from sqlalchemy import inspect, text

    found: list[str] = []
    raw = needle.encode()
    async with services.db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for table in names:
            # table names come from the test database's own schema (the inspector)
            for row in await conn.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        hit = raw in bytes(value)
                    else:
                        hit = needle.lower() in str(value).lower()
                    if hit:
                        found.append(table)
                        break
        if conn.dialect.name == "sqlite":
            q = f'"{needle}"'
            if (
                await conn.execute(
                    text("SELECT rowid FROM message_fts WHERE message_fts MATCH :q"), {"q": q}
                )
            ).first():
                found.append("message_fts MATCH")
        else:
            if (
                await conn.execute(
                    text(
                        "SELECT id FROM channel_events "
                        "WHERE search_tsv @@ plainto_tsquery('simple', :q)"
                    ),
                    {"q": needle},
                )
            ).first():
                found.append("search_tsv MATCH")
    return sorted(set(found))
