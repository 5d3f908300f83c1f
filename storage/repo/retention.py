"""Retention: what classhub forgets on its own, and the due account deletions.

Per event, after it ends: chat (chat, news and group channels), notes (the
event's boards: notes with their revisions, replies and votes, the Q&A questions
with their votes, and the board channels' events) and photos (the boards'
attachments) each have a retention period in days (``Event.chat_retention_days``
etc.; NULL means the event's ``retention_days``). Direct messages older than
``DM_RETENTION_DAYS`` go when that is set (0 keeps them), activity entries older
than ``ACTIVITY_RETENTION_DAYS`` always. Terminated accounts whose grace month
is over are erased (``storage.repo.erasure``).

Everything here is idempotent: a second run the same day deletes nothing more.
Channel rows (and so their ``last_seq``) stay, so a client that resumes an old
channel gets no sequence reused; the deleted numbers replay as ``erased``
placeholders (``channel_log.read_log``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.event_types import DM_RECEIVED
from storage.models import (
    Attachment,
    Board,
    ChannelEvent,
    Event,
    HeldMessage,
    LearningGroup,
    Note,
    Question,
    QuestionBoard,
)
from storage.repo.log_review import prune_activity

CHUNK = 500


@dataclass
class RetentionReport:
    chat_events: int = 0
    board_events: int = 0
    notes: int = 0
    questions: int = 0
    photos: int = 0
    dm_events: int = 0
    activity: int = 0
    events: list[int] = field(default_factory=list)  # events something was deleted for
    attachment_ids: list[int] = field(default_factory=list)  # files to remove after commit

    def as_json(self) -> dict[str, Any]:
        return {
            "chat_events": self.chat_events,
            "board_events": self.board_events,
            "notes": self.notes,
            "questions": self.questions,
            "photos": self.photos,
            "dm_events": self.dm_events,
            "activity": self.activity,
            "events": self.events,
        }


def _due(ev: Event, days: int | None, now: dt.datetime) -> bool:
    keep = ev.retention_days if days is None else days
    return ev.ends_at + dt.timedelta(days=keep) <= now


async def _delete_channel_events(db: AsyncSession, channels: list[str]) -> int:
    result = await db.execute(delete(ChannelEvent).where(ChannelEvent.channel.in_(channels)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def apply_event_retention(
    db: AsyncSession, now: dt.datetime, report: RetentionReport
) -> None:
    events = (await db.execute(select(Event).where(Event.ends_at <= now))).scalars().all()
    for ev in events:
        touched = 0
        groups = list(
            (
                await db.execute(select(LearningGroup.id).where(LearningGroup.event_id == ev.id))
            ).scalars()
        )
        if _due(ev, ev.chat_retention_days, now):
            chat = [f"event:{ev.id}:chat", f"event:{ev.id}:news"] + [f"group:{g}" for g in groups]
            n = await _delete_channel_events(db, chat)
            # Held posts are chat not yet in the log: they go with it (removed messages'
            # kept originals go with their rows: ON DELETE CASCADE).
            n += (await db.execute(
                delete(HeldMessage).where(HeldMessage.event_id == ev.id)
            )).rowcount or 0  # type: ignore[attr-defined]
            report.chat_events += n
            touched += n
        boards = list((await db.execute(select(Board.id).where(Board.event_id == ev.id))).scalars())
        if _due(ev, ev.photos_retention_days, now) and boards:
            ids = list(
                (
                    await db.execute(select(Attachment.id).where(Attachment.board_id.in_(boards)))
                ).scalars()
            )
            if ids:
                # Notes keep their place; their photo reference goes (FK SET NULL as well).
                await db.execute(delete(Attachment).where(Attachment.id.in_(ids)))
                report.photos += len(ids)
                report.attachment_ids += ids
                touched += len(ids)
        if _due(ev, ev.notes_retention_days, now):
            board_channels = [f"event:{ev.id}:board"] + [f"group:{g}:board" for g in groups]
            n = await _delete_channel_events(db, board_channels)
            report.board_events += n
            touched += n
            if boards:
                result = await db.execute(delete(Note).where(Note.board_id.in_(boards)))
                n = int(result.rowcount or 0)  # type: ignore[attr-defined]
                report.notes += n
                touched += n
            # The Q&A lives on the same board channels: its questions (votes cascade) too.
            qa = select(QuestionBoard.id).where(QuestionBoard.event_id == ev.id)
            result = await db.execute(delete(Question).where(Question.board_id.in_(qa)))
            n = int(result.rowcount or 0)  # type: ignore[attr-defined]
            report.questions += n
            touched += n
        if touched:
            report.events.append(ev.id)


async def apply_retention(
    db: AsyncSession,
    *,
    now: dt.datetime,
    dm_retention_days: int,
    activity_retention_days: int,
) -> RetentionReport:
    report = RetentionReport()
    await apply_event_retention(db, now, report)
    if dm_retention_days > 0:
        cutoff = now - dt.timedelta(days=dm_retention_days)
        result = await db.execute(
            delete(ChannelEvent).where(
                ChannelEvent.channel.like("dm:%"), ChannelEvent.created_at < cutoff
            )
        )
        report.dm_events = int(result.rowcount or 0)  # type: ignore[attr-defined]
        # Their announcements to the recipients (a moment younger than each message).
        await db.execute(
            delete(ChannelEvent).where(
                ChannelEvent.channel.like("user:%"),
                ChannelEvent.type == DM_RECEIVED,
                ChannelEvent.created_at < cutoff,
            )
        )
    report.activity = await prune_activity(db, now - dt.timedelta(days=activity_retention_days))
    return report
