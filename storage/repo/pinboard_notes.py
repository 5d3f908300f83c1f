"""A note's life on the board: write, release, edit, delete, pin, admin-lock, move.

The board events of an anonymous note are server events (``server=note.anonymous``):
an event's ``author_id`` would otherwise name whoever released, edited or moved it,
its author (docs/pinboard.md, "Anonymous notes").
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.errors import Conflict, DomainError, Forbidden
from storage.event_types import (
    NOTE_DELETED,
    NOTE_DELETED_BY_MODERATOR,
    NOTE_EDITED,
    NOTE_LOCKED,
    NOTE_MOVED,
    NOTE_PENDING,
    NOTE_PINNED,
    NOTE_PUBLISHED,
    NOTE_QUEUED,
    NOTE_REVISED,
)
from storage.models import Attachment, Note, NoteRevision, NoteState, Reply, utcnow
from storage.repo.logs import audit
from storage.repo.pinboard_access import (
    MAX_NOTE_CHARS,
    BoardAccess,
    BoardTx,
    check_section_writable,
    clean_colour,
    clean_text,
    require_moderator,
)
from storage.repo.pinboard_client_ids import by_client_id, insert_once, same_place
from storage.repo.pinboard_redaction import redact_note_events
from storage.repo.pinboard_views import note_view, public_note


async def next_position(db: AsyncSession, board_id: int, section_id: int | None) -> int:
    top = (
        await db.execute(
            select(func.max(Note.position)).where(
                Note.board_id == board_id,
                Note.section_id.is_(None) if section_id is None else Note.section_id == section_id,
                Note.state != NoteState.DRAFT.value,
            )
        )
    ).scalar()
    return (top or 0) + 1


async def create_note(
    tx: BoardTx,
    acc: BoardAccess,
    *,
    text: str,
    colour: str,
    section_id: int | None,
    release: bool,
    client_id: str | None = None,
) -> tuple[Note, bool]:
    """Write a note; returns it and whether it is new.

    With a ``client_id`` the create is idempotent per author: a retry (the answer
    was lost) gets the note stored the first time, as it is now, and changes nothing.
    """
    if client_id is not None:
        earlier = await by_client_id(tx.db, Note, tx.actor.id, client_id)
        if earlier is not None:
            return same_place(earlier, earlier.board_id, acc.board.id, "note"), False
    if not authz_board.may_post_on_board(acc.viewer):
        raise Forbidden("you may not post on this board")
    await check_section_writable(tx.db, acc, section_id)
    note = Note(
        board_id=acc.board.id,
        section_id=section_id,
        author_id=tx.actor.id,
        text=clean_text(text, MAX_NOTE_CHARS, "note"),
        colour=clean_colour(colour),
        state=NoteState.DRAFT.value,
        client_id=client_id,
        anonymous=acc.board.anonymous,
    )
    stored = await insert_once(tx.db, note, tx.actor.id, client_id)
    if stored is not note:
        return same_place(stored, stored.board_id, acc.board.id, "note"), False
    if release:
        await release_note(tx, acc, note)
    return note, True


async def publish_note(tx: BoardTx, acc: BoardAccess, note: Note, via: str) -> None:
    note.state = NoteState.PUBLISHED.value
    if via == "release" and note.author_id == tx.actor.id:
        # A note fresh from draft has no votes or replies yet (both need it published),
        # and its author is the actor: no queries needed on this hot path.
        photo = await tx.db.get(Attachment, note.photo_id) if note.photo_id else None
        view = note_view(note, {tx.actor.id: tx.actor.display_name}, photo, 0)
        tx.fresh_views[note.id] = view
    else:
        await tx.db.flush()
        view = await public_note(tx.db, note)
    tx.emit(acc.board.channel, NOTE_PUBLISHED, {"note": view, "via": via}, server=note.anonymous)


async def release_note(
    tx: BoardTx, acc: BoardAccess, note: Note, *, position: int | None = None
) -> Note:
    """Draft -> published, or -> pending on a pre-moderated board (moderators skip the queue).

    Every check comes before the first change, so a refused release leaves the
    session as it was: the batched path (``pinboard_release``) relies on that to
    run many releases in one transaction. It also passes ``position``, the next
    free place in the note's section, which it reads once for the whole batch.
    """
    if not authz_board.may_change_note(acc.viewer, note.author_id, note.state, note.admin_locked):
        raise Forbidden("only the author may release a note")
    if note.state != NoteState.DRAFT.value:
        raise Conflict("not_a_draft", "the note is released already")
    await check_section_writable(tx.db, acc, note.section_id)
    now = utcnow()
    note.released_at = now
    note.updated_at = now
    if position is None:
        position = await next_position(tx.db, note.board_id, note.section_id)
    note.position = position
    if acc.board.premoderation and not acc.viewer.is_moderator:
        note.state = NoteState.PENDING.value
        # Fresh from draft: no votes or replies; the response reuses this shape.
        photo = await tx.db.get(Attachment, note.photo_id) if note.photo_id else None
        tx.fresh_views[note.id] = note_view(note, {tx.actor.id: tx.actor.display_name}, photo, 0)
        tx.emit(acc.board.channel, NOTE_PENDING, {"id": note.id}, server=note.anonymous)
        tx.emit(f"user:{tx.actor.id}", NOTE_QUEUED, {"note_id": note.id, "board_id": note.board_id},
                server=True)
    else:
        await publish_note(tx, acc, note, "release")
    return note


async def edit_note(
    tx: BoardTx,
    acc: BoardAccess,
    note: Note,
    *,
    text: str | None,
    colour: str | None,
    photo_id: int | None = None,
    set_photo: bool = False,
) -> Note:
    """The author changes text, colour or photo; a released note keeps the old version."""
    if not authz_board.may_change_note(acc.viewer, note.author_id, note.state, note.admin_locked):
        raise Forbidden("only the author may edit a note")
    await check_section_writable(tx.db, acc, note.section_id)
    new_text = clean_text(text, MAX_NOTE_CHARS, "note") if text is not None else note.text
    new_colour = clean_colour(colour) if colour is not None else note.colour
    new_photo = photo_id if set_photo else note.photo_id
    if (new_text, new_colour, new_photo) == (note.text, note.colour, note.photo_id):
        return note
    if note.state == NoteState.DRAFT.value and note.photo_id not in (None, new_photo):
        # A draft keeps no history: the photo it no longer shows is nobody's to see.
        old = await tx.db.get(Attachment, note.photo_id)
        note.photo_id = None
        await tx.db.flush()
        if old is not None:
            await tx.db.delete(old)
            tx.dropped_attachments.append(old.id)
    if note.state != NoteState.DRAFT.value:
        tx.db.add(
            NoteRevision(
                note_id=note.id, version=note.version, text=note.text, colour=note.colour,
                photo_id=note.photo_id, editor_id=tx.actor.id,
            )
        )
        note.version += 1
    note.text, note.colour, note.photo_id = new_text, new_colour, new_photo
    note.updated_at = utcnow()
    state = note.state
    if state == NoteState.PUBLISHED.value:
        if acc.board.premoderation and not acc.viewer.is_moderator:
            # An approved note edited on a pre-moderated board is checked again.
            note.state = NoteState.PENDING.value
            await redact_note_events(tx.db, acc.board.channel, note)
            tx.emit(acc.board.channel, NOTE_PENDING, {"id": note.id}, server=note.anonymous)
        else:
            await tx.db.flush()
            tx.emit(acc.board.channel, NOTE_EDITED, {"note": await public_note(tx.db, note)},
                    server=note.anonymous)
    elif state == NoteState.OFFLINE.value:
        # The author revises a note a trainer took offline: the trainer hears of it.
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.note.revised",
            target=f"note:{note.id}", detail={"version": note.version}, ip=tx.ip,
        )
        if note.offline_by is not None:
            tx.emit(f"user:{note.offline_by}", NOTE_REVISED,
                    {"note_id": note.id, "board_id": note.board_id}, server=True)
    return note


async def _has_replies(db: AsyncSession, note_id: int) -> bool:
    return (
        await db.execute(select(Reply.id).where(Reply.note_id == note_id).limit(1))
    ).first() is not None


async def delete_note(tx: BoardTx, acc: BoardAccess, note: Note, *, reason: str = "") -> bool:
    """Delete; a note with replies becomes a tombstone. Returns True for a tombstone."""
    if not authz_board.may_delete_note(acc.viewer, note.author_id, note.admin_locked):
        raise Forbidden("you may not delete this note")
    if note.state == NoteState.DELETED.value:
        raise Conflict("deleted", "the note is deleted already")
    by_author = note.author_id == tx.actor.id
    if by_author and not acc.viewer.is_moderator:
        await check_section_writable(tx.db, acc, note.section_id)
    was_visible = note.state in (NoteState.PUBLISHED.value, NoteState.OFFLINE.value,
                                 NoteState.PENDING.value)
    tomb = was_visible and await _has_replies(tx.db, note.id)
    if was_visible:
        await redact_note_events(tx.db, acc.board.channel, note)
    if not by_author:
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.note.delete", target=f"note:{note.id}",
            reason=reason, detail={"author_id": note.author_id, "state": note.state,
                                   "tombstone": tomb}, ip=tx.ip,
        )
        if note.author_id is not None:
            tx.emit(f"user:{note.author_id}", NOTE_DELETED_BY_MODERATOR,
                    {"note_id": note.id, "board_id": note.board_id, "reason": reason}, server=True)
    # Photos and revisions are the deleted content under other names: they go too.
    revisions = list(
        (await tx.db.execute(select(NoteRevision).where(NoteRevision.note_id == note.id))).scalars()
    )
    photo_ids = {i for i in [note.photo_id, *(r.photo_id for r in revisions)] if i is not None}
    await tx.db.execute(delete(NoteRevision).where(NoteRevision.note_id == note.id))
    if tomb:
        note.state = NoteState.DELETED.value
        note.text = ""
        note.photo_id = None
        note.deleted_at = utcnow()
    else:
        await tx.db.delete(note)
    await tx.db.flush()
    for att_id in sorted(photo_ids):
        att = await tx.db.get(Attachment, att_id)
        if att is not None:
            await tx.db.delete(att)
            tx.dropped_attachments.append(att_id)
    if was_visible:
        tx.emit(acc.board.channel, NOTE_DELETED, {"id": note.id, "tombstone": tomb},
                server=note.anonymous)
    return tomb


async def pin_note(tx: BoardTx, acc: BoardAccess, note: Note, pinned: bool) -> Note:
    require_moderator(acc)
    if note.admin_locked and not acc.viewer.is_admin:
        raise DomainError("note_locked", "an admin locked this note", status=423)
    if note.state != NoteState.PUBLISHED.value:
        raise Conflict("not_published", "only a published note can be pinned")
    note.pinned = pinned
    note.pinned_by = tx.actor.id if pinned else None
    tx.emit(acc.board.channel, NOTE_PINNED, {"id": note.id, "pinned": pinned},
            server=note.anonymous)
    return note


async def admin_lock_note(tx: BoardTx, acc: BoardAccess, note: Note, locked: bool) -> Note:
    if not acc.viewer.is_admin:
        raise Forbidden("only admins may set an admin lock")
    note.admin_locked = locked
    await audit(
        tx.db, actor_id=tx.actor.id, action="pinboard.note.admin_lock", target=f"note:{note.id}",
        detail={"locked": locked}, ip=tx.ip,
    )
    if note.state == NoteState.PUBLISHED.value:
        tx.emit(acc.board.channel, NOTE_LOCKED, {"id": note.id, "admin_locked": locked})
    return note


async def move_note(
    tx: BoardTx, acc: BoardAccess, note: Note, section_id: int | None, index: int
) -> Note:
    """Move to ``section_id`` (None: unsorted) at ``index`` among its released notes."""
    if note.admin_locked and not acc.viewer.is_admin:
        raise DomainError("note_locked", "an admin locked this note", status=423)
    if not (acc.viewer.is_moderator or authz_board.may_change_note(
        acc.viewer, note.author_id, note.state, note.admin_locked
    )):
        raise Forbidden("only the author or a trainer may move a note")
    if note.state == NoteState.DELETED.value:
        raise Conflict("deleted", "a deleted note cannot move")
    await check_section_writable(tx.db, acc, note.section_id)
    await check_section_writable(tx.db, acc, section_id)
    note.section_id = section_id
    if note.state == NoteState.DRAFT.value:
        return note  # a draft gets its place when released
    others = list(
        (
            await tx.db.execute(
                select(Note)
                .where(
                    Note.board_id == note.board_id,
                    Note.section_id.is_(None)
                    if section_id is None
                    else Note.section_id == section_id,
                    Note.state != NoteState.DRAFT.value,
                    Note.id != note.id,
                )
                .order_by(Note.position, Note.id)
            )
        ).scalars()
    )
    index = max(0, min(index, len(others)))
    others.insert(index, note)
    for pos, n in enumerate(others, start=1):
        n.position = pos
    if note.state == NoteState.PUBLISHED.value:
        shown = [[n.id, n.position] for n in others
                 if n.state in (NoteState.PUBLISHED.value, NoteState.DELETED.value)]
        tx.emit(acc.board.channel, NOTE_MOVED,
                {"id": note.id, "section_id": section_id, "positions": shown},
                server=note.anonymous)
    return note

