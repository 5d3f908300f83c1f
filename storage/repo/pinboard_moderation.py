"""Moderating a board: take a note offline (telling its author), reinstate, approve,
the queue, history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board, channels
from storage.errors import Conflict, Forbidden
from storage.event_types import (
    MESSAGE,
    NOTE_APPROVED,
    NOTE_OFFLINE,
    NOTE_REINSTATED,
    NOTE_TAKEN_OFFLINE,
)
from storage.models import Note, NoteRevision, NoteState
from storage.repo.logs import audit
from storage.repo.pinboard_access import (
    MAX_REPLY_CHARS,
    BoardAccess,
    BoardTx,
    clean_text,
    require_moderator,
)
from storage.repo.pinboard_notes import publish_note
from storage.repo.pinboard_redaction import redact_note_events


async def take_offline(tx: BoardTx, acc: BoardAccess, note: Note, reason: str) -> Note:
    """Hide a note from everyone but its author and the moderators; tell the author."""
    require_moderator(acc)
    if note.state not in (NoteState.PUBLISHED.value, NoteState.PENDING.value):
        raise Conflict("not_online", f"a {note.state} note cannot be taken offline")
    reason = clean_text(reason, MAX_REPLY_CHARS, "reason")
    note.state = NoteState.OFFLINE.value
    note.offline_reason = reason
    note.offline_by = tx.actor.id
    note.pinned = False
    await redact_note_events(tx.db, acc.board.channel, note)
    tx.emit(acc.board.channel, NOTE_OFFLINE, {"id": note.id})
    await audit(
        tx.db, actor_id=tx.actor.id, action="pinboard.note.offline", target=f"note:{note.id}",
        reason=reason, detail={"author_id": note.author_id, "board_id": note.board_id}, ip=tx.ip,
    )
    if note.author_id is not None and note.author_id != tx.actor.id:
        # "Contact the author": the conversation opens with the reason as its first message.
        # Not for an anonymous note: the DM would name its author to the trainer.
        dm = None if note.anonymous else channels.dm_channel(tx.actor.id, note.author_id)
        tx.emit(
            f"user:{note.author_id}", NOTE_TAKEN_OFFLINE,
            {"note_id": note.id, "board_id": note.board_id, "reason": reason,
             "by": {"id": tx.actor.id, "name": tx.actor.display_name}, "dm": dm},
            server=True,
        )
        if dm is not None:
            tx.emit(dm, MESSAGE, {"text": reason, "kind": "moderation", "note_id": note.id})
    return note


async def reinstate(tx: BoardTx, acc: BoardAccess, note: Note) -> Note:
    require_moderator(acc)
    if note.state != NoteState.OFFLINE.value:
        raise Conflict("not_offline", "only an offline note can be reinstated")
    await audit(
        tx.db, actor_id=tx.actor.id, action="pinboard.note.reinstate", target=f"note:{note.id}",
        detail={"author_id": note.author_id, "version": note.version}, ip=tx.ip,
    )
    note.offline_reason = ""
    note.offline_by = None
    await publish_note(tx, acc, note, "reinstate")
    if note.author_id is not None:
        tx.emit(f"user:{note.author_id}", NOTE_REINSTATED,
                {"note_id": note.id, "board_id": note.board_id}, server=True)
    return note


async def approve(tx: BoardTx, acc: BoardAccess, note: Note) -> Note:
    require_moderator(acc)
    if note.state != NoteState.PENDING.value:
        raise Conflict("not_pending", "only a queued note can be approved")
    await audit(
        tx.db, actor_id=tx.actor.id, action="pinboard.note.approve", target=f"note:{note.id}",
        detail={"author_id": note.author_id}, ip=tx.ip,
    )
    await publish_note(tx, acc, note, "approve")
    if note.author_id is not None:
        tx.emit(f"user:{note.author_id}", NOTE_APPROVED,
                {"note_id": note.id, "board_id": note.board_id}, server=True)
    return note


async def queue(db: AsyncSession, acc: BoardAccess) -> list[Note]:
    require_moderator(acc)
    rows = await db.execute(
        select(Note)
        .where(Note.board_id == acc.board.id, Note.state == NoteState.PENDING.value)
        .order_by(Note.released_at, Note.id)
    )
    return list(rows.scalars())


async def history(db: AsyncSession, acc: BoardAccess, note: Note) -> list[NoteRevision]:
    if not authz_board.may_see_note_history(acc.viewer):
        raise Forbidden("only trainers and admins see the edit history")
    rows = await db.execute(
        select(NoteRevision).where(NoteRevision.note_id == note.id).order_by(NoteRevision.version)
    )
    return list(rows.scalars())

