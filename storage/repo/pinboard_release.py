"""Many note releases in one transaction (the batched path behind ``POST /notes/{id}/release``).

When a trainer says "release your notes now", a thousand authors release at
the same moment. One transaction per release costs about ten statements and a
commit each, and on SQLite they queue behind the one writer; so releases are
collected by the batch writer (``storage.batch_writer``) and stored here
together: the notes, their boards, sections, photos, the viewers' roles and
the next free positions are read with one query each, every release is
checked and applied by ``pinboard.release_note`` (the same rules as a single
release), and all their events go into the channel logs with one
``channel_log.append``, which takes each channel's sequence numbers in one
step, so they stay gapless across processes.

A refused release (404, 403, 409, 423) is an answer for that request alone:
``release_note`` checks everything before it changes anything, so the others
in the batch still commit. A database error fails the whole transaction; the
writer then retries the releases one by one.

Locks (PostgreSQL): the notes are locked in id order, then their boards in id
order, so two processes releasing overlapping notes cannot deadlock, and the
board lock makes concurrent batches on one board take positions one after
the other. The channel rows are locked last, in name order, by ``append``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.errors import DomainError, NotFound
from storage.models import Attachment, Board, BoardSection, Note, NoteState, User
from storage.repo import channel_log
from storage.repo.channel_log import NewEvent, StoredEvent
from storage.repo.pinboard import BoardAccess, BoardTx, release_note


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    actor: User  # signed in; read in the request's own session, only its fields are used
    note_id: int
    ip: str = ""


@dataclass(frozen=True, slots=True)
class Released:
    note: dict[str, Any]  # the note as its author now sees it
    events: list[StoredEvent]  # this release's events, to fan out after commit


# Per request: the release, or the refusal.
ReleaseOutcome = Released | DomainError


@dataclass(slots=True)
class ReleaseBatch:
    outcomes: list[ReleaseOutcome]
    events: list[StoredEvent]  # every release's, in order: to fan out after commit


async def release_many(db: AsyncSession, requests: list[ReleaseRequest]) -> ReleaseBatch:
    """Apply ``requests`` in order inside the caller's transaction (see the module doc)."""
    note_ids = sorted({r.note_id for r in requests})
    notes = {
        n.id: n
        for n in (
            await db.execute(
                select(Note).where(Note.id.in_(note_ids)).order_by(Note.id).with_for_update()
            )
        ).scalars()
    }
    boards = (
        {
            b.id: b
            for b in (
                await db.execute(
                    select(Board)
                    .where(Board.id.in_(sorted({n.board_id for n in notes.values()})))
                    .order_by(Board.id)
                    .with_for_update()
                )
            ).scalars()
        }
        if notes
        else {}
    )
    # Loaded into the session's identity map: release_note's db.get() finds them there.
    section_ids = {n.section_id for n in notes.values() if n.section_id is not None}
    if section_ids:
        await db.execute(select(BoardSection).where(BoardSection.id.in_(section_ids)))
    photo_ids = {n.photo_id for n in notes.values() if n.photo_id is not None}
    if photo_ids:
        await db.execute(select(Attachment).where(Attachment.id.in_(photo_ids)))
    viewers = await authz_board.board_viewers(
        db,
        [
            (r.actor, boards[n.board_id].event_id, boards[n.board_id].group_id)
            for r in requests
            if (n := notes.get(r.note_id)) is not None
        ],
    )
    tops = await _top_positions(db, list(boards))

    views: list[dict[str, Any] | DomainError] = []
    spans: list[tuple[int, int]] = []  # per release: its events' place in ``items``
    items: list[NewEvent] = []
    for req in requests:
        tx = BoardTx(db, req.actor, req.ip)
        try:
            note = notes.get(req.note_id)
            if note is None:
                raise NotFound("note")
            board = boards[note.board_id]
            viewer = viewers[(req.actor.id, board.event_id, board.group_id)]
            if not authz_board.may_read_board(viewer):
                raise NotFound("board")  # as note_for: an outsider learns nothing
            if not authz_board.may_see_note(viewer, note.state, note.author_id):
                raise NotFound("note")
            place = (note.board_id, note.section_id)
            await release_note(
                tx, BoardAccess(board, viewer), note, position=tops.get(place, 0) + 1
            )
        except DomainError as refused:
            views.append(refused)
            continue
        tops[place] = note.position
        spans.append((len(items), len(items) + len(tx.items)))
        items.extend(tx.items)
        views.append({**tx.fresh_views[note.id], "replies": [], "my_vote": False, "mine": True})
    events = await channel_log.append(db, items) if items else []
    spans.reverse()
    outcomes: list[ReleaseOutcome] = []
    for view in views:
        if isinstance(view, DomainError):
            outcomes.append(view)
        else:
            start, end = spans.pop()
            outcomes.append(Released(view, events[start:end]))
    return ReleaseBatch(outcomes, events)


async def _top_positions(
    db: AsyncSession, board_ids: list[int]
) -> dict[tuple[int, int | None], int]:
    """The highest position of a released note per (board, section): ``_next_position`` for all."""
    if not board_ids:
        return {}
    rows = await db.execute(
        select(Note.board_id, Note.section_id, func.max(Note.position))
        .where(Note.board_id.in_(board_ids), Note.state != NoteState.DRAFT.value)
        .group_by(Note.board_id, Note.section_id)
    )
    return {(b, s): int(top or 0) for b, s, top in rows}
