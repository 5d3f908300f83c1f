"""Redacting board events that carried a note's or a reply's text: the one place it is done.

When a note goes offline, back to the queue or is deleted, and when its author
is erased, the earlier ``note.published``/``note.edited`` events of its board
that carried its text become ``{"note": {"id": N}, "redacted": true}``; a
deleted reply's ``reply.added`` becomes ``{"reply": {"id": R, "note_id": N},
"redacted": true}``. Whoever emitted the event (the author's release, a
moderator's approval or reinstatement): what matters is whose text it carries.
The sequence number, type and ids stay, so a replay stays gapless
(docs/pinboard.md, "Nothing private goes into the board log").

An event is matched by the id in its body; a body of another shape (a faulty
feature's, an old row's) carries no note of this id and is left alone, never
an error: a moderator's deletion or an erasure must not fail on someone
else's malformed row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.event_types import NOTE_EDITED, NOTE_PUBLISHED, REPLY_ADDED
from storage.models import ChannelEvent, Note, Reply

# Event types whose body carries a note's text.
NOTE_TEXT_EVENTS = (NOTE_PUBLISHED, NOTE_EDITED)


def _names(body: Any, key: str, row_id: int) -> bool:
    """Whether ``body`` is ``{key: {"id": row_id, ...}, ...}``."""
    if not isinstance(body, dict):
        return False
    inner = body.get(key)
    return isinstance(inner, dict) and inner.get("id") == row_id


async def _redact(
    db: AsyncSession,
    channel: str,
    types: tuple[str, ...],
    since: dt.datetime,
    key: str,
    row_id: int,
    redacted: dict[str, Any],
) -> int:
    rows = (
        await db.execute(
            select(ChannelEvent).where(
                ChannelEvent.channel == channel,
                ChannelEvent.type.in_(types),
                ChannelEvent.created_at >= since,
            )
        )
    ).scalars()
    count = 0
    for row in rows:
        if _names(row.body, key, row_id):
            row.body = {**redacted, "redacted": True}
            count += 1
    return count


async def redact_note_events(db: AsyncSession, channel: str, note: Note) -> int:
    """Blank the events of board ``channel`` that carried ``note``'s text; returns how many."""
    return await _redact(
        db, channel, NOTE_TEXT_EVENTS, note.created_at, "note", note.id, {"note": {"id": note.id}}
    )


async def redact_reply_events(db: AsyncSession, channel: str, reply: Reply) -> int:
    """Blank the ``reply.added`` events of board ``channel`` that carried ``reply``'s text."""
    return await _redact(
        db,
        channel,
        (REPLY_ADDED,),
        reply.created_at,
        "reply",
        reply.id,
        {"reply": {"id": reply.id, "note_id": reply.note_id}},
    )
