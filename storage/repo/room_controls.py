"""The trainers' controls of an event's chat rooms (issue 17): the stored state and the changes.

A room is an event's chat ``event:<id>:chat`` together with its learning groups' chats
``group:<id>``; its settings (slow mode, freeze, word list, pinned announcement) and its
mutes are per event. Every change here is audited in the caller's transaction and, where
people must see it, stored as a channel event the caller broadcasts after commit. The rules
that apply the state on the publish path, cached per process: ``realtime/room_rules.py``.

Removing a message keeps its log row (its sequence number, its author, its place in the
chain) but replaces the body with the placeholder ``{"removed": {"reason": ...}}``, so a
replay never carries the text again; the original body is kept in ``removed_messages``
for admins (``originals_of``: admin review shows it) and for restoring it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage import event_types
from storage.authz import ROLE_RANK, event_role, group_event_id
from storage.channels import ChannelKind, ChannelRef, parse_channel
from storage.errors import Conflict, DomainError, Forbidden, NotFound
from storage.models import (
    ChannelEvent,
    Enrolment,
    Event,
    LearningGroup,
    RemovedMessage,
    Role,
    RoomMute,
    RoomSettings,
    User,
    utcnow,
)
from storage.repo import channel_log
from storage.repo.channel_log import NewEvent, StoredEvent
from storage.repo.logs import audit

MAX_WORDS = 200
MAX_WORD_CHARS = 100
MAX_SLOW_SECS = 3600
MAX_MUTE_MINUTES = 24 * 60
MAX_ANNOUNCEMENT_CHARS = 2000
STAFF_ROLES = (Role.TRAINER.value, Role.ORGANISER.value)


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """What the publish path needs to know of one room, read in one go."""

    event_id: int
    slow_secs: int = 0
    frozen: bool = False
    words: tuple[str, ...] = ()
    announcement: str = ""
    mutes: tuple[tuple[int, dt.datetime], ...] = ()
    staff: frozenset[int] = frozenset()


async def room_of(db: AsyncSession, ref: ChannelRef) -> int | None:
    """The event whose room controls apply to ``ref``: its chat and board, its groups'
    chats and boards; None for any other channel (DMs, personal, news)."""
    if ref.kind in (ChannelKind.CHAT, ChannelKind.BOARD):
        return ref.id
    if ref.kind in (ChannelKind.GROUP, ChannelKind.GROUP_BOARD):
        return await group_event_id(db, ref.id)
    return None


async def load_room(db: AsyncSession, event_id: int) -> RoomSnapshot:
    row = await db.get(RoomSettings, event_id)
    now = utcnow()
    mutes = (
        await db.execute(
            select(RoomMute.user_id, RoomMute.until).where(
                RoomMute.event_id == event_id, RoomMute.until > now
            )
        )
    ).all()
    staff = (
        await db.execute(
            select(Enrolment.user_id).where(
                Enrolment.event_id == event_id, Enrolment.role.in_(STAFF_ROLES)
            )
        )
    ).scalars()
    base = RoomSnapshot(
        event_id, mutes=tuple((u, t) for u, t in mutes), staff=frozenset(staff)
    )
    if row is None:
        return base
    return RoomSnapshot(
        event_id, row.slow_secs, row.frozen, tuple(row.words), row.announcement,
        base.mutes, base.staff,
    )


def public_state(row: RoomSettings | None) -> dict[str, Any]:
    """What everyone in the room sees of its settings (not the word list)."""
    if row is None:
        return {"slow_secs": 0, "frozen": False, "announcement": "", "announcement_at": None}
    return {
        "slow_secs": row.slow_secs,
        "frozen": row.frozen,
        "announcement": row.announcement,
        "announcement_at": row.updated_at.isoformat() if row.announcement else None,
    }


async def require_staff(db: AsyncSession, user: User, event_id: int) -> None:
    """Trainers and organisers of the event, and admins, control its room."""
    if await db.get(Event, event_id) is None:
        raise NotFound("event")
    if user.is_admin:
        return
    role = await event_role(db, user.id, event_id)
    if role is None or ROLE_RANK[role] < ROLE_RANK[Role.TRAINER]:
        raise Forbidden("only trainers and organisers of the event control its room")


def clean_words(words: list[str]) -> list[str]:
    out: list[str] = []
    for w in words:
        word = " ".join(w.split()).casefold()
        if word and word not in out:
            out.append(word)
    return out


@dataclass(frozen=True, slots=True)
class SettingsChange:
    slow_secs: int | None = None
    frozen: bool | None = None
    words: list[str] | None = None
    announcement: str | None = None


async def update_settings(
    db: AsyncSession, event_id: int, actor: User, change: SettingsChange, *, ip: str = ""
) -> tuple[RoomSettings, list[StoredEvent]]:
    """Apply ``change`` (None fields stay), audited; the ``room.updated`` events to broadcast."""
    # Two trainers' first changes at once: one inserts the row, the other finds it.
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    await db.execute(
        insert(RoomSettings)
        .values(event_id=event_id, slow_secs=0, frozen=False, words=[], announcement="",
                updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    row = await db.get(RoomSettings, event_id, with_for_update=True)
    if row is None:
        raise RuntimeError(f"room settings of event {event_id} vanished")
    detail: dict[str, Any] = {}
    if change.slow_secs is not None and change.slow_secs != row.slow_secs:
        detail["slow_secs"] = [row.slow_secs, change.slow_secs]
        row.slow_secs = change.slow_secs
    if change.frozen is not None and change.frozen != row.frozen:
        detail["frozen"] = [row.frozen, change.frozen]
        row.frozen = change.frozen
    if change.words is not None:
        words = clean_words(change.words)
        if words != list(row.words):
            detail["words"] = [list(row.words), words]
            row.words = words
    if change.announcement is not None and change.announcement.strip() != row.announcement:
        detail["announcement"] = [row.announcement, change.announcement.strip()]
        row.announcement = change.announcement.strip()
    row.updated_by = actor.id
    row.updated_at = utcnow()
    await db.flush()
    # Every change is audited with the value before it: reversible by setting it back.
    await audit(
        db, actor_id=actor.id, action="room.settings", target=f"event:{event_id}",
        detail=detail, ip=ip,
    )
    # In the event chat and each group chat of the event: the rooms it applies to.
    groups = (
        await db.execute(select(LearningGroup.id).where(LearningGroup.event_id == event_id))
    ).scalars()
    body = {"room": public_state(row)}
    news = await channel_log.append(db, [
        NewEvent(name, event_types.ROOM_UPDATED, body)
        for name in [f"event:{event_id}:chat", *(f"group:{g}" for g in sorted(groups))]
    ])
    return row, news


async def mute(
    db: AsyncSession, event_id: int, user_id: int, minutes: int, actor: User, *, ip: str = ""
) -> tuple[dt.datetime, StoredEvent]:
    """Mute ``user_id`` in the event's room for ``minutes`` (replacing an earlier mute)."""
    role = await event_role(db, user_id, event_id)
    if role is None:
        raise NotFound("member of the event")
    if role is not Role.PARTICIPANT:
        raise DomainError("not_a_participant", "trainers and organisers cannot be muted")
    until = utcnow() + dt.timedelta(minutes=minutes)
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(RoomMute).values(
        event_id=event_id, user_id=user_id, until=until, muted_by=actor.id, created_at=utcnow()
    )
    await db.execute(stmt.on_conflict_do_update(
        index_elements=["event_id", "user_id"],
        set_={"until": stmt.excluded.until, "muted_by": stmt.excluded.muted_by},
    ))
    await audit(
        db, actor_id=actor.id, action="room.mute", target=f"user:{user_id}",
        detail={"event_id": event_id, "minutes": minutes, "until": until.isoformat()}, ip=ip,
    )
    [notice] = await channel_log.append(db, [NewEvent(
        f"user:{user_id}", event_types.CHAT_MUTED,
        {"event_id": event_id, "until": until.isoformat()},
    )])
    return until, notice


async def unmute(
    db: AsyncSession, event_id: int, user_id: int, actor: User, *, ip: str = ""
) -> StoredEvent:
    gone = await db.execute(
        delete(RoomMute).where(RoomMute.event_id == event_id, RoomMute.user_id == user_id)
    )
    if not getattr(gone, "rowcount", 0):
        raise NotFound("mute")
    await audit(
        db, actor_id=actor.id, action="room.unmute", target=f"user:{user_id}",
        detail={"event_id": event_id}, ip=ip,
    )
    [notice] = await channel_log.append(
        db, [NewEvent(f"user:{user_id}", event_types.CHAT_UNMUTED, {"event_id": event_id})]
    )
    return notice


async def mutes_of(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    rows = (
        await db.execute(
            select(RoomMute).where(RoomMute.event_id == event_id, RoomMute.until > utcnow())
        )
    ).scalars()
    return [{"user_id": r.user_id, "until": r.until.isoformat()} for r in rows]


async def my_mute(db: AsyncSession, event_id: int, user_id: int) -> dt.datetime | None:
    row = await db.get(RoomMute, (event_id, user_id))
    return row.until if row is not None and row.until > utcnow() else None


async def check_board_post(db: AsyncSession, user_id: int, event_id: int, *, staff: bool) -> None:
    """Mute and freeze reach the event's boards too: a note or reply by a muted person, or
    by any participant while the room is frozen, is refused (403 ``muted``/``frozen``)."""
    if staff:
        return
    row = await db.get(RoomSettings, event_id)
    if row is not None and row.frozen:
        raise DomainError("frozen", "the room is frozen: only trainers may post now", status=403)
    until = await my_mute(db, event_id, user_id)
    if until is not None:
        raise DomainError(
            "muted", f"a trainer muted you until {until.isoformat()}", status=403
        )


async def _room_message(db: AsyncSession, event_id: int, message_id: int) -> ChannelEvent:
    """A chat message of the event's room (its chat or a group's), or 404."""
    row = await db.get(ChannelEvent, message_id)
    ref = parse_channel(row.channel) if row is not None else None
    if (
        row is None or ref is None or row.type != event_types.MESSAGE
        or ref.kind not in (ChannelKind.CHAT, ChannelKind.GROUP)
        or await room_of(db, ref) != event_id
    ):
        raise NotFound("message")
    return row


async def remove_message(
    db: AsyncSession, event_id: int, message_id: int, reason: str, actor: User, *, ip: str = ""
) -> list[StoredEvent]:
    """Replace the message's text by the placeholder, keep the original for admins; the
    room's ``message.removed`` and the author's notice, to broadcast after commit."""
    row = await _room_message(db, event_id, message_id)
    if await db.get(RemovedMessage, message_id) is not None:
        raise Conflict("already_removed", "the message was removed before")
    db.add(RemovedMessage(
        message_id=message_id, event_id=event_id, original=row.body, reason=reason,
        removed_by=actor.id,
    ))
    row.body = {"removed": {"reason": reason}}
    await audit(
        db, actor_id=actor.id, action="room.remove_message", target=f"{row.channel}#{row.id}",
        reason=reason, detail={"event_id": event_id, "author_id": row.author_id}, ip=ip,
    )
    items = [NewEvent(row.channel, event_types.MESSAGE_REMOVED, {"reason": reason}, None, None,
                      row.id)]
    if row.author_id is not None:
        items.append(NewEvent(
            f"user:{row.author_id}", event_types.CHAT_REMOVED,
            {"channel": row.channel, "reason": reason}, None, None, row.id,
        ))
    return await channel_log.append(db, items)


async def restore_message(
    db: AsyncSession, event_id: int, message_id: int, actor: User, *, ip: str = ""
) -> list[StoredEvent]:
    row = await _room_message(db, event_id, message_id)
    kept = await db.get(RemovedMessage, message_id)
    if kept is None:
        raise Conflict("not_removed", "the message is not removed")
    row.body = kept.original
    await db.delete(kept)
    await audit(
        db, actor_id=actor.id, action="room.restore_message", target=f"{row.channel}#{row.id}",
        detail={"event_id": event_id}, ip=ip,
    )
    return await channel_log.append(db, [NewEvent(
        row.channel, event_types.MESSAGE_RESTORED, {"body": row.body}, None, None, row.id
    )])


async def originals_of(db: AsyncSession, ids: list[int]) -> dict[int, dict[str, Any]]:
    """For admin review: the removed messages among ``ids``, their original body and why."""
    if not ids:
        return {}
    rows = (
        await db.execute(select(RemovedMessage).where(RemovedMessage.message_id.in_(ids)))
    ).scalars()
    return {
        r.message_id: {
            "body": r.original, "reason": r.reason, "removed_by": r.removed_by,
            "removed_at": r.removed_at.isoformat(),
        }
        for r in rows
    }
