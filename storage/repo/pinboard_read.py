"""Reading a board as one viewer sees it: the snapshot, the queue, exports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.models import BoardSection, Note, NoteState, Reply, Vote
from storage.repo import channel_log
from storage.repo.pinboard import BoardAccess
from storage.repo.pinboard_views import (
    attachments_by_id,
    board_view,
    display_names,
    note_view,
    reply_view,
    section_view,
    vote_counts,
)


async def notes_as_seen(
    db: AsyncSession, acc: BoardAccess, notes: list[Note], *, with_private: bool = True
) -> list[dict[str, Any]]:
    """Viewer shapes of ``notes`` (already filtered), with replies, counts and own vote."""
    v = acc.viewer
    ids = [n.id for n in notes]
    replies = (
        list((await db.execute(
            select(Reply).where(Reply.note_id.in_(ids)).order_by(Reply.id)
        )).scalars())
        if ids else []
    )
    names = await display_names(db, [n.author_id for n in notes] + [r.author_id for r in replies])
    photos = await attachments_by_id(db, [n.photo_id for n in notes])
    counts = await vote_counts(db, ids)
    mine = (
        set((await db.execute(
            select(Vote.note_id).where(Vote.user_id == v.user_id, Vote.note_id.in_(ids))
        )).scalars())
        if ids else set()
    )
    by_note: dict[int, list[dict[str, Any]]] = {}
    for r in replies:
        by_note.setdefault(r.note_id, []).append(reply_view(r, names))
    out = []
    for n in notes:
        item = note_view(
            n, names, photos.get(n.photo_id) if n.photo_id else None, counts.get(n.id, 0)
        )
        item["replies"] = by_note.get(n.id, [])
        item["my_vote"] = n.id in mine
        # Whether this viewer wrote it: an anonymous note's author learns it only here.
        item["mine"] = n.author_id is not None and n.author_id == v.user_id
        if with_private and n.state == NoteState.OFFLINE.value:
            # The reason is for the author and the moderators, who alone see this note.
            item["offline_reason"] = n.offline_reason
        out.append(item)
    return out


async def snapshot(db: AsyncSession, acc: BoardAccess) -> dict[str, Any]:
    """The board as this viewer sees it, plus the channel's last sequence.

    The sequence is read *first*: a change committed between the two reads is
    then both in the state and replayed after ``last_seq``; every board event
    sets state (it never increments), so applying it twice is harmless.
    """
    last_seq = await channel_log.last_seq(db, acc.board.channel)
    v = acc.viewer
    sections = (
        await db.execute(
            select(BoardSection)
            .where(BoardSection.board_id == acc.board.id)
            .order_by(BoardSection.position, BoardSection.id)
        )
    ).scalars()
    visible_states = [NoteState.PUBLISHED.value, NoteState.DELETED.value]
    if v.is_moderator:
        visible_states += [NoteState.PENDING.value, NoteState.OFFLINE.value]
    rows = (
        await db.execute(
            select(Note)
            .where(
                Note.board_id == acc.board.id,
                or_(Note.state.in_(visible_states), Note.author_id == v.user_id),
            )
            .order_by(Note.section_id, Note.pinned.desc(), Note.position, Note.id)
        )
    ).scalars()
    notes = [n for n in rows if authz_board.may_see_note(v, n.state, n.author_id)]
    return {
        "board": board_view(acc.board),
        "channel": acc.board.channel,
        "last_seq": last_seq,
        "viewer": {
            "user_id": v.user_id,
            "role": v.role.value if v.role else None,
            "moderator": v.is_moderator,
            "may_post": authz_board.may_post_on_board(v),
        },
        "sections": [section_view(s) for s in sections],
        "notes": await notes_as_seen(db, acc, notes),
    }


async def export_notes(db: AsyncSession, acc: BoardAccess) -> list[dict[str, Any]]:
    """Every note but drafts (private to their authors), for a trainer's export."""
    rows = (
        await db.execute(
            select(Note)
            .where(Note.board_id == acc.board.id, Note.state != NoteState.DRAFT.value)
            .order_by(Note.section_id, Note.position, Note.id)
        )
    ).scalars()
    return await notes_as_seen(db, acc, list(rows))
