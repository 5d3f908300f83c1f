"""Posts held for review: a chat message that matched its event's word list.

It is stored here, never in the channel log, so nobody but the event's trainers (the
queue) and admins sees it; its trainers hear of it on their personal channels
(``room.held``). Approved, it is published as its author's message with its own client
id (so a retry stays one message); rejected, its author is told (``chat.rejected``).
A second publish of the same (author, client id) finds the held post again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import event_types
from storage.errors import Conflict, NotFound
from storage.models import (
    ChannelEvent,
    HeldMessage,
    HeldStatus,
    RemovedMessage,
    RoomMute,
    User,
    utcnow,
)
from storage.repo import channel_log
from storage.repo.channel_log import NewEvent, StoredEvent
from storage.repo.logs import audit


async def hold(
    db: AsyncSession, *, event_id: int, channel: str, author_id: int, client_id: str,
    ref_id: int | None, body: dict[str, Any], word: str, staff: Iterable[int],
) -> tuple[HeldMessage, list[StoredEvent]]:
    """Store the post for review (or find it: a retried publish); the trainers' notices."""
    found = (
        await db.execute(
            select(HeldMessage).where(
                HeldMessage.author_id == author_id, HeldMessage.client_id == client_id
            )
        )
    ).scalar_one_or_none()
    if found is not None:
        return found, []
    row = HeldMessage(
        event_id=event_id, channel=channel, author_id=author_id, client_id=client_id,
        ref_id=ref_id, body=body, word=word[:100], status=HeldStatus.HELD.value,
    )
    db.add(row)
    await db.flush()
    notices = await channel_log.append(db, [
        NewEvent(f"user:{uid}", event_types.ROOM_HELD,
                 {"event_id": event_id, "held_id": row.id, "channel": channel})
        for uid in sorted(set(staff))
    ])
    return row, notices


def held_json(row: HeldMessage, author_name: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id, "channel": row.channel, "author_id": row.author_id,
        "author_name": author_name, "body": row.body, "word": row.word, "status": row.status,
        "created_at": row.created_at.isoformat(),
    }


async def queue(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    """The event's posts still waiting for review, oldest first."""
    rows = (
        await db.execute(
            select(HeldMessage, User.display_name)
            .join(User, User.id == HeldMessage.author_id)
            .where(HeldMessage.event_id == event_id, HeldMessage.status == HeldStatus.HELD.value)
            .order_by(HeldMessage.id)
        )
    ).all()
    return [held_json(r, name) for r, name in rows]


async def decide(
    db: AsyncSession, event_id: int, held_id: int, approve: bool, actor: User, *, ip: str = ""
) -> tuple[HeldMessage, list[StoredEvent]]:
    """Approve (publish as the author's) or reject a held post, audited."""
    row = await db.get(HeldMessage, held_id)
    if row is None or row.event_id != event_id:
        raise NotFound("held post")
    # A rejection can be reversed (approved later); an approved post is in the log, where
    # a trainer removes it like any message.
    if row.status == HeldStatus.APPROVED.value or (
        row.status == HeldStatus.REJECTED.value and not approve
    ):
        raise Conflict("already_decided", f"the post was {row.status} before")
    row.status = (HeldStatus.APPROVED if approve else HeldStatus.REJECTED).value
    row.decided_by, row.decided_at = actor.id, utcnow()
    await audit(
        db, actor_id=actor.id, action="room.approve" if approve else "room.reject",
        target=f"held:{row.id}", detail={"event_id": event_id, "author_id": row.author_id},
        ip=ip,
    )
    if approve:
        item = NewEvent(row.channel, event_types.MESSAGE, row.body, row.author_id,
                        row.client_id, row.ref_id)
    else:
        item = NewEvent(f"user:{row.author_id}", event_types.CHAT_REJECTED,
                        {"channel": row.channel, "held_id": row.id})
    return row, await channel_log.append(db, [item])


async def erase_room_data(db: AsyncSession, user_id: int) -> dict[str, int]:
    """Erasure's part (storage/repo/erasure.py): the person's held posts, mutes, and the
    kept originals of their removed messages (before their events are unlinked)."""
    mine = select(ChannelEvent.id).where(ChannelEvent.author_id == user_id)
    counts: dict[str, int] = {}
    for name, stmt in (
        ("removed_messages", delete(RemovedMessage).where(RemovedMessage.message_id.in_(mine))),
        ("held_messages", delete(HeldMessage).where(HeldMessage.author_id == user_id)),
        ("room_mutes", delete(RoomMute).where(RoomMute.user_id == user_id)),
    ):
        result = await db.execute(stmt)
        counts[name] = int(getattr(result, "rowcount", 0) or 0)
    return counts


async def my_room_data(db: AsyncSession, user_id: int) -> dict[str, Any]:
    """The person's own data of room controls, for access and export (personal_data.py):
    their held posts, their mutes, and the original text of their messages a trainer removed."""
    held = (
        await db.execute(
            select(HeldMessage).where(HeldMessage.author_id == user_id).order_by(HeldMessage.id)
        )
    ).scalars()
    mutes = (
        await db.execute(select(RoomMute).where(RoomMute.user_id == user_id))
    ).scalars()
    removed = (
        await db.execute(
            select(RemovedMessage)
            .join(ChannelEvent, ChannelEvent.id == RemovedMessage.message_id)
            .where(ChannelEvent.author_id == user_id)
            .order_by(RemovedMessage.message_id)
        )
    ).scalars()
    return {
        "held_posts": [held_json(h) for h in held],
        "mutes": [{"event_id": m.event_id, "until": m.until.isoformat()} for m in mutes],
        "removed_messages": [
            {"message_id": r.message_id, "body": r.original, "reason": r.reason,
             "removed_at": r.removed_at.isoformat()}
            for r in removed
        ],
    }
