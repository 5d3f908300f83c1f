"""How pinboard rows are shown: the JSON shapes of the snapshot, the log events and exports.

Two kinds of shape: the *public* one (what every reader of the board channel
may see: it goes into the channel log) and the *viewer* one, which adds what
only this viewer may see (their vote, the reason a note of theirs went
offline). Nothing private is ever put into a public shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Attachment, Board, BoardSection, Note, Reply, User, Vote


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def board_view(board: Board) -> dict[str, Any]:
    return {
        "id": board.id,
        "event_id": board.event_id,
        "group_id": board.group_id,
        "channel": board.channel,
        "premoderation": board.premoderation,
        "anonymous": board.anonymous,
    }


def section_view(section: BoardSection) -> dict[str, Any]:
    return {
        "id": section.id,
        "board_id": section.board_id,
        "title": section.title,
        "position": section.position,
        "locked": section.locked,
        "admin_locked": section.admin_locked,
        "created_by": section.created_by,
    }


def photo_view(att: Attachment | None) -> dict[str, Any] | None:
    if att is None:
        return None
    return {
        "id": att.id,
        "content_type": att.content_type,
        "width": att.width,
        "height": att.height,
        "url": f"/api/pinboard/photos/{att.id}",
        "thumb_url": f"/api/pinboard/photos/{att.id}/thumb",
    }


def person(user_id: int | None, names: Mapping[int, str]) -> dict[str, Any] | None:
    if user_id is None:
        return None
    return {"id": user_id, "name": names.get(user_id, "")}


def note_view(
    note: Note, names: Mapping[int, str], photo: Attachment | None, votes: int
) -> dict[str, Any]:
    """The public shape. A tombstone keeps its place and chain but loses text, photo, author;
    an anonymous note never shows its author (docs/pinboard.md, "Anonymous notes")."""
    tomb = note.state == "deleted"
    return {
        "id": note.id,
        "board_id": note.board_id,
        "section_id": note.section_id,
        "author": None if tomb or note.anonymous else person(note.author_id, names),
        "anonymous": note.anonymous,
        "text": "" if tomb else note.text,
        "colour": note.colour,
        "photo": None if tomb else photo_view(photo),
        "position": note.position,
        "pinned": note.pinned,
        "admin_locked": note.admin_locked,
        "state": note.state,
        "version": note.version,
        "edited": note.version > 1,
        "votes": votes,
        "created_at": iso(note.created_at),
        "released_at": iso(note.released_at),
        "updated_at": iso(note.updated_at),
    }


def reply_view(reply: Reply, names: Mapping[int, str]) -> dict[str, Any]:
    gone = reply.deleted_at is not None
    return {
        "id": reply.id,
        "note_id": reply.note_id,
        "parent_id": reply.parent_id,
        "author": None if gone else person(reply.author_id, names),
        "text": "" if gone else reply.text,
        "deleted": gone,
        "created_at": iso(reply.created_at),
    }


async def display_names(db: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await db.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {uid: name for uid, name in rows}


async def vote_counts(db: AsyncSession, note_ids: Iterable[int]) -> dict[int, int]:
    ids = list(note_ids)
    if not ids:
        return {}
    rows = await db.execute(
        select(Vote.note_id, func.count()).where(Vote.note_id.in_(ids)).group_by(Vote.note_id)
    )
    return {nid: int(n) for nid, n in rows}


async def attachments_by_id(db: AsyncSession, ids: Iterable[int | None]) -> dict[int, Attachment]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = (await db.execute(select(Attachment).where(Attachment.id.in_(wanted)))).scalars()
    return {a.id: a for a in rows}


async def public_note(db: AsyncSession, note: Note) -> dict[str, Any]:
    """The public shape of one note, loading what it needs."""
    names = await display_names(db, [note.author_id])
    photo = await db.get(Attachment, note.photo_id) if note.photo_id is not None else None
    votes = (await vote_counts(db, [note.id])).get(note.id, 0)
    return note_view(note, names, photo, votes)
