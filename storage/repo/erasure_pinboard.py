"""The pinboard part of erasing a person (called by ``storage.repo.erasure.erase_user``).

Notes and replies follow the same chain rule as messages: a note someone else
replied to, and a reply someone else answered, stay as tombstones with the
author unlinked (text blanked when the person asked for erasure of content);
the rest is deleted. Votes go. Photos the person uploaded go, row and
encrypted files (the files after commit: their ids are returned). Board events
that carried the text of the person's notes are redacted by the pinboard's own
redaction (``pinboard_redaction``), whoever emitted them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Attachment,
    Board,
    BoardSection,
    Note,
    NoteRevision,
    NoteState,
    Reply,
    Vote,
    utcnow,
)
from storage.repo.pinboard_redaction import redact_note_events


async def _reply_chain_keep(db: AsyncSession, mine: dict[int, Reply]) -> set[int]:
    """Own replies that someone else answered, directly or through a kept own reply."""
    if not mine:
        return set()
    edges = (
        await db.execute(
            select(Reply.id, Reply.parent_id).where(Reply.parent_id.in_(list(mine)))
        )
    ).all()
    keep: set[int] = set()
    changed = True
    while changed:
        changed = False
        for child, parent in edges:
            if parent is not None and parent not in keep and (child not in mine or child in keep):
                keep.add(parent)
                changed = True
    return keep


async def erase_pinboard(
    db: AsyncSession, user_id: int, *, erase_content: bool
) -> tuple[dict[str, int], list[int]]:
    """Returns counts for the report and the attachment ids whose files must go."""
    counts: dict[str, int] = {}
    # Photos the person uploaded: never kept (a photo is the person's content).
    photo_ids = list(
        (await db.execute(select(Attachment.id).where(Attachment.owner_id == user_id))).scalars()
    )
    if photo_ids:
        await db.execute(update(Note).where(Note.photo_id.in_(photo_ids)).values(photo_id=None))
        await db.execute(delete(Attachment).where(Attachment.id.in_(photo_ids)))
    counts["photos_removed"] = len(photo_ids)

    # Replies first: a note's chain test looks at replies by others.
    mine = {
        r.id: r
        for r in (await db.execute(select(Reply).where(Reply.author_id == user_id))).scalars()
    }
    keep = await _reply_chain_keep(db, mine)
    for rid, reply in mine.items():
        if rid in keep:
            reply.author_id = None
            if erase_content:
                reply.text = ""
                reply.deleted_at = reply.deleted_at or utcnow()
    doomed = [rid for rid in mine if rid not in keep]
    if doomed:
        await db.execute(update(Reply).where(Reply.parent_id.in_(doomed)).values(parent_id=None))
        await db.execute(delete(Reply).where(Reply.id.in_(doomed)))
    counts["replies_deleted"] = len(doomed)
    counts["replies_kept"] = len(keep)

    notes = list((await db.execute(select(Note).where(Note.author_id == user_id))).scalars())
    boards = select(Board.id, Board.channel).where(Board.id.in_({n.board_id for n in notes}))
    channels: dict[int, str] = {i: c for i, c in await db.execute(boards)}
    kept_notes = deleted_notes = 0
    for note in notes:
        has_replies = (
            await db.execute(select(Reply.id).where(Reply.note_id == note.id).limit(1))
        ).first() is not None
        await redact_note_events(db, channels[note.board_id], note)
        if has_replies and note.state != NoteState.DRAFT.value:
            kept_notes += 1
            note.author_id = None
            if erase_content or note.state == NoteState.DELETED.value:
                note.text = ""
                note.photo_id = None
                note.state = NoteState.DELETED.value
                note.deleted_at = note.deleted_at or utcnow()
                await db.execute(delete(NoteRevision).where(NoteRevision.note_id == note.id))
            else:
                await db.execute(
                    update(NoteRevision)
                    .where(NoteRevision.note_id == note.id)
                    .values(editor_id=None)
                )
        else:
            deleted_notes += 1
            await db.delete(note)
    counts["notes_deleted"] = deleted_notes
    counts["notes_kept"] = kept_notes

    votes = await db.execute(delete(Vote).where(Vote.user_id == user_id))
    counts["votes"] = int(votes.rowcount or 0)  # type: ignore[attr-defined]
    # Names on others' rows: who pinned, took offline, edited, made a section.
    for stmt in (
        update(Note).where(Note.pinned_by == user_id).values(pinned_by=None),
        update(Note).where(Note.offline_by == user_id).values(offline_by=None),
        update(NoteRevision).where(NoteRevision.editor_id == user_id).values(editor_id=None),
        update(BoardSection).where(BoardSection.created_by == user_id).values(created_by=None),
    ):
        await db.execute(stmt)
    await db.flush()
    return counts, photo_ids


async def pinboard_data(db: AsyncSession, user_id: int) -> dict[str, Any]:
    """The person's notes (with their revisions), replies and votes, for access and export."""
    notes = []
    for note in (
        await db.execute(select(Note).where(Note.author_id == user_id).order_by(Note.id))
    ).scalars():
        revisions = (
            await db.execute(
                select(NoteRevision)
                .where(NoteRevision.note_id == note.id)
                .order_by(NoteRevision.version)
            )
        ).scalars()
        notes.append(
            {
                "id": note.id,
                "board_id": note.board_id,
                "section_id": note.section_id,
                "state": note.state,
                "text": note.text,
                "colour": note.colour,
                "anonymous": note.anonymous,
                "photo_id": note.photo_id,
                "created_at": note.created_at.isoformat(),
                "updated_at": note.updated_at.isoformat(),
                "revisions": [
                    {"version": r.version, "text": r.text, "created_at": r.created_at.isoformat()}
                    for r in revisions
                ],
            }
        )
    replies = [
        {
            "id": r.id,
            "note_id": r.note_id,
            "parent_id": r.parent_id,
            "text": r.text,
            "deleted": r.deleted_at is not None,
            "created_at": r.created_at.isoformat(),
        }
        for r in (
            await db.execute(select(Reply).where(Reply.author_id == user_id).order_by(Reply.id))
        ).scalars()
    ]
    votes = [
        {"note_id": v.note_id, "created_at": v.created_at.isoformat()}
        for v in (await db.execute(select(Vote).where(Vote.user_id == user_id))).scalars()
    ]
    photos = [
        {"id": a.id, "board_id": a.board_id, "content_type": a.content_type, "size": a.size}
        for a in (
            await db.execute(select(Attachment).where(Attachment.owner_id == user_id))
        ).scalars()
    ]
    return {"notes": notes, "note_replies": replies, "votes": votes, "photos": photos}
