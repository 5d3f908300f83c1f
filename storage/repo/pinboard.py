"""Pinboard state changes, each logged in the board's channel in the same transaction.

Every function here runs inside the caller's transaction and queues the
channel events that describe its change on a :class:`BoardTx`; the caller
appends them (``BoardTx.commit_events``) before the transaction commits and
hands the stored events to the hub after it. So a board change and its event
are durable together, or not at all.

What goes into the *board* channel is only what every reader of the board may
see: drafts are never logged, queued and offline notes appear as bare ids,
and when a note goes offline or is deleted the earlier events that carried
its text are redacted, so replaying the channel does not bring it back.
Personal notices go to ``user:<id>``; the moderation conversation to a DM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz, channels
from storage.errors import Conflict, DomainError, Forbidden, NotFound
from storage.models import (
    Attachment,
    Board,
    BoardSection,
    ChannelEvent,
    Event,
    LearningGroup,
    Note,
    NoteRevision,
    NoteState,
    Reply,
    User,
    Vote,
    utcnow,
)
from storage.repo import channel_log
from storage.repo.channel_log import NewEvent, StoredEvent
from storage.repo.logs import audit
from storage.repo.pinboard_views import note_view, public_note, reply_view, section_view

MAX_NOTE_CHARS = 4000
MAX_REPLY_CHARS = 2000
COLOURS = ("yellow", "pink", "blue", "green", "orange", "purple", "white")
# Event types whose body carries a note's text; redacted when the note goes away.
NOTE_TEXT_EVENTS = ("note.published", "note.edited")


@dataclass
class BoardTx:
    """The events one request's change produces, appended together before commit."""

    db: AsyncSession
    actor: User
    ip: str = ""
    items: list[NewEvent] = field(default_factory=list)
    stored: list[StoredEvent] = field(default_factory=list)
    # Public shapes of notes released by this change (the response reuses them).
    fresh_views: dict[int, dict[str, Any]] = field(default_factory=dict)
    committed: bool = False  # set by the caller once the transaction committed
    # Attachments whose rows this change deleted: their files go after commit.
    dropped_attachments: list[int] = field(default_factory=list)

    def emit(self, channel: str, type_: str, body: dict[str, Any], *, server: bool = False) -> None:
        self.items.append(
            NewEvent(channel=channel, type=type_, body=body, author_id=None if server else self.actor.id)
        )

    async def commit_events(self) -> list[StoredEvent]:
        if self.items:
            self.stored = await channel_log.append(self.db, self.items)
            self.items = []
        return self.stored


@dataclass(frozen=True)
class BoardAccess:
    board: Board
    viewer: authz.BoardViewer


# --- boards ----------------------------------------------------------------------------


def event_board_channel(event_id: int) -> str:
    return f"event:{event_id}:board"


def group_board_channel(group_id: int) -> str:
    return f"group:{group_id}:board"


async def _get_or_create_board(db: AsyncSession, event_id: int, group_id: int | None) -> Board:
    channel = group_board_channel(group_id) if group_id else event_board_channel(event_id)
    board = (await db.execute(select(Board).where(Board.channel == channel))).scalar_one_or_none()
    if board is not None:
        return board
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    await db.execute(
        insert(Board)
        .values(event_id=event_id, group_id=group_id, channel=channel, premoderation=False,
                created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["channel"])
    )
    return (await db.execute(select(Board).where(Board.channel == channel))).scalar_one()


async def _access(db: AsyncSession, user: User, board: Board) -> BoardAccess:
    viewer = await authz.board_viewer(db, user, board.event_id, board.group_id)
    if not authz.may_read_board(viewer):
        # 404, not 403: an outsider learns nothing about the board's existence.
        raise NotFound("board")
    return BoardAccess(board, viewer)


async def event_board(db: AsyncSession, user: User, event_id: int) -> BoardAccess:
    if await db.get(Event, event_id) is None:
        raise NotFound("event")
    viewer = await authz.board_viewer(db, user, event_id, None)
    if not authz.may_read_board(viewer):
        raise NotFound("event")
    return BoardAccess(await _get_or_create_board(db, event_id, None), viewer)


async def group_board(db: AsyncSession, user: User, group_id: int) -> BoardAccess:
    group = await db.get(LearningGroup, group_id)
    if group is None:
        raise NotFound("group")
    viewer = await authz.board_viewer(db, user, group.event_id, group_id)
    if not authz.may_read_board(viewer):
        raise NotFound("group")
    return BoardAccess(await _get_or_create_board(db, group.event_id, group_id), viewer)


async def board_by_id(db: AsyncSession, user: User, board_id: int) -> BoardAccess:
    board = await db.get(Board, board_id)
    if board is None:
        raise NotFound("board")
    return await _access(db, user, board)


def require_moderator(acc: BoardAccess) -> None:
    if not authz.may_moderate_board(acc.viewer):
        raise Forbidden("only the event's trainers, organisers and admins may do this")


async def set_premoderation(tx: BoardTx, acc: BoardAccess, on: bool) -> Board:
    require_moderator(acc)
    acc.board.premoderation = on
    tx.emit(acc.board.channel, "board.updated", {"board": {"id": acc.board.id, "premoderation": on}})
    await audit(
        tx.db, actor_id=tx.actor.id, action="pinboard.premoderation",
        target=f"board:{acc.board.id}", detail={"on": on}, ip=tx.ip,
    )
    return acc.board


# --- sections --------------------------------------------------------------------------


async def _section(db: AsyncSession, acc: BoardAccess, section_id: int) -> BoardSection:
    section = await db.get(BoardSection, section_id)
    if section is None or section.board_id != acc.board.id:
        raise NotFound("section")
    return section


async def section_for(db: AsyncSession, user: User, section_id: int) -> tuple[BoardSection, BoardAccess]:
    section = await db.get(BoardSection, section_id)
    if section is None:
        raise NotFound("section")
    board = await db.get(Board, section.board_id)
    assert board is not None
    return section, await _access(db, user, board)


def _check_section_admin_lock(acc: BoardAccess, section: BoardSection) -> None:
    if section.admin_locked and not acc.viewer.is_admin:
        raise DomainError("section_locked", "an admin locked this section", status=423)


async def create_section(tx: BoardTx, acc: BoardAccess, title: str) -> BoardSection:
    require_moderator(acc)
    top = (
        await tx.db.execute(
            select(func.max(BoardSection.position)).where(BoardSection.board_id == acc.board.id)
        )
    ).scalar()
    section = BoardSection(
        board_id=acc.board.id, title=title.strip(), position=(top or 0) + 1, created_by=tx.actor.id
    )
    tx.db.add(section)
    await tx.db.flush()
    tx.emit(acc.board.channel, "section.created", {"section": section_view(section)})
    return section


async def update_section(
    tx: BoardTx,
    acc: BoardAccess,
    section: BoardSection,
    *,
    title: str | None = None,
    locked: bool | None = None,
    admin_locked: bool | None = None,
) -> BoardSection:
    require_moderator(acc)
    if admin_locked is not None:
        if not acc.viewer.is_admin:
            raise Forbidden("only admins may set an admin lock")
        section.admin_locked = admin_locked
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.section.admin_lock",
            target=f"section:{section.id}", detail={"locked": admin_locked}, ip=tx.ip,
        )
    elif section.admin_locked:
        _check_section_admin_lock(acc, section)
    if title is not None:
        section.title = title.strip()
    if locked is not None:
        section.locked = locked
    tx.emit(acc.board.channel, "section.updated", {"section": section_view(section)})
    return section


async def reorder_sections(tx: BoardTx, acc: BoardAccess, order: list[int]) -> list[BoardSection]:
    require_moderator(acc)
    sections = list(
        (await tx.db.execute(select(BoardSection).where(BoardSection.board_id == acc.board.id)))
        .scalars()
    )
    if sorted(order) != sorted(s.id for s in sections) or len(set(order)) != len(order):
        raise DomainError("bad_order", "give every section of the board exactly once", status=422)
    by_id = {s.id: s for s in sections}
    for index, sid in enumerate(order, start=1):
        if by_id[sid].position != index:
            _check_section_admin_lock(acc, by_id[sid])  # an admin-locked section stays put
            by_id[sid].position = index
    tx.emit(acc.board.channel, "sections.reordered", {"order": order})
    return [by_id[i] for i in order]


async def delete_section(tx: BoardTx, acc: BoardAccess, section: BoardSection) -> None:
    """Its notes move to the unsorted column (section_id null); they are not deleted."""
    require_moderator(acc)
    _check_section_admin_lock(acc, section)
    if section.created_by != tx.actor.id or acc.viewer.is_admin:
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.section.delete",
            target=f"section:{section.id}", detail={"title": section.title,
                                                   "created_by": section.created_by}, ip=tx.ip,
        )
    notes = (await tx.db.execute(select(Note).where(Note.section_id == section.id))).scalars()
    for note in notes:
        note.section_id = None
    await tx.db.delete(section)
    tx.emit(acc.board.channel, "section.deleted", {"id": section.id})


# --- notes -----------------------------------------------------------------------------


def clean_text(text: str, limit: int, what: str) -> str:
    value = text.strip()
    if not value:
        raise DomainError("empty", f"the {what} has no text", status=422)
    if len(value) > limit:
        raise DomainError("too_long", f"the {what} is over {limit} characters", status=422)
    return value


def clean_colour(colour: str) -> str:
    if colour not in COLOURS:
        raise DomainError("bad_colour", f"colour must be one of {', '.join(COLOURS)}", status=422)
    return colour


async def note_for(
    db: AsyncSession, user: User, note_id: int, *, lock: bool = False
) -> tuple[Note, BoardAccess]:
    """The note and the viewer's access; 404 for a note the viewer may not see."""
    stmt = select(Note).where(Note.id == note_id)
    if lock:
        stmt = stmt.with_for_update()  # serialises concurrent changes of one note on PostgreSQL
    note = (await db.execute(stmt)).scalar_one_or_none()
    if note is None:
        raise NotFound("note")
    board = await db.get(Board, note.board_id)
    assert board is not None
    acc = await _access(db, user, board)
    if not authz.may_see_note(acc.viewer, note.state, note.author_id):
        raise NotFound("note")
    return note, acc


async def _check_section_writable(db: AsyncSession, acc: BoardAccess, section_id: int | None) -> None:
    if section_id is None:
        return
    section = await _section(db, acc, section_id)
    if not authz.may_write_in_section(acc.viewer, section.locked, section.admin_locked):
        raise DomainError("section_locked", f"the section {section.title!r} is locked", status=423)


async def _next_position(db: AsyncSession, board_id: int, section_id: int | None) -> int:
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
        earlier = await _by_client_id(tx.db, Note, tx.actor.id, client_id)
        if earlier is not None:
            return _same_place(earlier, earlier.board_id, acc.board.id, "note"), False
    if not authz.may_post_on_board(acc.viewer):
        raise Forbidden("you may not post on this board")
    await _check_section_writable(tx.db, acc, section_id)
    note = Note(
        board_id=acc.board.id,
        section_id=section_id,
        author_id=tx.actor.id,
        text=clean_text(text, MAX_NOTE_CHARS, "note"),
        colour=clean_colour(colour),
        state=NoteState.DRAFT.value,
        client_id=client_id,
    )
    stored = await _insert_once(tx.db, note, tx.actor.id, client_id)
    if stored is not note:
        return _same_place(stored, stored.board_id, acc.board.id, "note"), False
    if release:
        await release_note(tx, acc, note)
    return note, True


RowT = TypeVar("RowT", Note, Reply)


async def _by_client_id(
    db: AsyncSession, model: type[RowT], author_id: int, client_id: str
) -> RowT | None:
    return (
        await db.execute(
            select(model).where(model.author_id == author_id, model.client_id == client_id)
        )
    ).scalar_one_or_none()


def _same_place(row: RowT, where: int, asked: int, what: str) -> RowT:
    """A client id names one row for all time: reusing it elsewhere is the client's bug."""
    if where != asked:
        raise Conflict("client_id_reused", f"this client_id names another {what} of yours")
    return row


async def _insert_once(db: AsyncSession, row: RowT, author_id: int, client_id: str | None) -> RowT:
    """Insert ``row``; if a concurrent retry stored the same client id first, return that one.

    On PostgreSQL the insert runs in a savepoint: the loser of the race waits on
    the unique index until the winner commits, fails, and then reads the winner's
    row. SQLite needs no savepoint (and pysqlite's would commit the outer
    transaction early): board writes are serialised in the process and SQLite
    has one writer, so the lookup before the insert already saw any earlier row.
    """
    if client_id is None or db.get_bind().dialect.name != "postgresql":
        db.add(row)
        await db.flush()
        return row
    try:
        async with db.begin_nested():
            db.add(row)
    except IntegrityError:
        earlier = await _by_client_id(db, type(row), author_id, client_id)
        if earlier is None:
            raise
        return earlier
    return row


async def _publish(tx: BoardTx, acc: BoardAccess, note: Note, via: str) -> None:
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
    tx.emit(acc.board.channel, "note.published", {"note": view, "via": via})


async def release_note(
    tx: BoardTx, acc: BoardAccess, note: Note, *, position: int | None = None
) -> Note:
    """Draft -> published, or -> pending on a pre-moderated board (moderators skip the queue).

    Every check comes before the first change, so a refused release leaves the
    session as it was: the batched path (``pinboard_release``) relies on that to
    run many releases in one transaction. It also passes ``position``, the next
    free place in the note's section, which it reads once for the whole batch.
    """
    if not authz.may_change_note(acc.viewer, note.author_id, note.state, note.admin_locked):
        raise Forbidden("only the author may release a note")
    if note.state != NoteState.DRAFT.value:
        raise Conflict("not_a_draft", "the note is released already")
    await _check_section_writable(tx.db, acc, note.section_id)
    now = utcnow()
    note.released_at = now
    note.updated_at = now
    if position is None:
        position = await _next_position(tx.db, note.board_id, note.section_id)
    note.position = position
    if acc.board.premoderation and not acc.viewer.is_moderator:
        note.state = NoteState.PENDING.value
        # Fresh from draft: no votes or replies; the response reuses this shape.
        photo = await tx.db.get(Attachment, note.photo_id) if note.photo_id else None
        tx.fresh_views[note.id] = note_view(note, {tx.actor.id: tx.actor.display_name}, photo, 0)
        tx.emit(acc.board.channel, "note.pending", {"id": note.id})
        tx.emit(f"user:{tx.actor.id}", "note.queued", {"note_id": note.id, "board_id": note.board_id},
                server=True)
    else:
        await _publish(tx, acc, note, "release")
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
    if not authz.may_change_note(acc.viewer, note.author_id, note.state, note.admin_locked):
        raise Forbidden("only the author may edit a note")
    await _check_section_writable(tx.db, acc, note.section_id)
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
            await _redact(tx.db, acc.board.channel, note)
            tx.emit(acc.board.channel, "note.pending", {"id": note.id})
        else:
            await tx.db.flush()
            tx.emit(acc.board.channel, "note.edited", {"note": await public_note(tx.db, note)})
    elif state == NoteState.OFFLINE.value:
        # The author revises a note a trainer took offline: the trainer hears of it.
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.note.revised",
            target=f"note:{note.id}", detail={"version": note.version}, ip=tx.ip,
        )
        if note.offline_by is not None:
            tx.emit(f"user:{note.offline_by}", "note.revised",
                    {"note_id": note.id, "board_id": note.board_id}, server=True)
    return note


async def _redact(db: AsyncSession, channel: str, note: Note) -> None:
    """Blank the earlier board events that carried this note's text (see module doc)."""
    rows = (
        await db.execute(
            select(ChannelEvent).where(
                ChannelEvent.channel == channel,
                ChannelEvent.type.in_(NOTE_TEXT_EVENTS),
                ChannelEvent.created_at >= note.created_at,
            )
        )
    ).scalars()
    for row in rows:
        if (row.body.get("note") or {}).get("id") == note.id:
            row.body = {"note": {"id": note.id}, "redacted": True}


async def _has_replies(db: AsyncSession, note_id: int) -> bool:
    return (await db.execute(select(Reply.id).where(Reply.note_id == note_id).limit(1))).first() is not None


async def delete_note(tx: BoardTx, acc: BoardAccess, note: Note, *, reason: str = "") -> bool:
    """Delete; a note with replies becomes a tombstone. Returns True for a tombstone."""
    if not authz.may_delete_note(acc.viewer, note.author_id, note.admin_locked):
        raise Forbidden("you may not delete this note")
    if note.state == NoteState.DELETED.value:
        raise Conflict("deleted", "the note is deleted already")
    by_author = note.author_id == tx.actor.id
    if by_author and not acc.viewer.is_moderator:
        await _check_section_writable(tx.db, acc, note.section_id)
    was_visible = note.state in (NoteState.PUBLISHED.value, NoteState.OFFLINE.value,
                                 NoteState.PENDING.value)
    tomb = was_visible and await _has_replies(tx.db, note.id)
    if was_visible:
        await _redact(tx.db, acc.board.channel, note)
    if not by_author:
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.note.delete", target=f"note:{note.id}",
            reason=reason, detail={"author_id": note.author_id, "state": note.state,
                                   "tombstone": tomb}, ip=tx.ip,
        )
        if note.author_id is not None:
            tx.emit(f"user:{note.author_id}", "note.deleted_by_moderator",
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
        tx.emit(acc.board.channel, "note.deleted", {"id": note.id, "tombstone": tomb})
    return tomb


async def pin_note(tx: BoardTx, acc: BoardAccess, note: Note, pinned: bool) -> Note:
    require_moderator(acc)
    if note.admin_locked and not acc.viewer.is_admin:
        raise DomainError("note_locked", "an admin locked this note", status=423)
    if note.state != NoteState.PUBLISHED.value:
        raise Conflict("not_published", "only a published note can be pinned")
    note.pinned = pinned
    note.pinned_by = tx.actor.id if pinned else None
    tx.emit(acc.board.channel, "note.pinned", {"id": note.id, "pinned": pinned})
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
        tx.emit(acc.board.channel, "note.locked", {"id": note.id, "admin_locked": locked})
    return note


async def move_note(
    tx: BoardTx, acc: BoardAccess, note: Note, section_id: int | None, index: int
) -> Note:
    """Move to ``section_id`` (None: unsorted) at ``index`` among its released notes."""
    if note.admin_locked and not acc.viewer.is_admin:
        raise DomainError("note_locked", "an admin locked this note", status=423)
    if not (acc.viewer.is_moderator or authz.may_change_note(
        acc.viewer, note.author_id, note.state, note.admin_locked
    )):
        raise Forbidden("only the author or a trainer may move a note")
    if note.state == NoteState.DELETED.value:
        raise Conflict("deleted", "a deleted note cannot move")
    await _check_section_writable(tx.db, acc, note.section_id)
    await _check_section_writable(tx.db, acc, section_id)
    note.section_id = section_id
    if note.state == NoteState.DRAFT.value:
        return note  # a draft gets its place when released
    others = list(
        (
            await tx.db.execute(
                select(Note)
                .where(
                    Note.board_id == note.board_id,
                    Note.section_id.is_(None) if section_id is None else Note.section_id == section_id,
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
        tx.emit(acc.board.channel, "note.moved",
                {"id": note.id, "section_id": section_id, "positions": shown})
    return note


# --- moderation ------------------------------------------------------------------------


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
    await _redact(tx.db, acc.board.channel, note)
    tx.emit(acc.board.channel, "note.offline", {"id": note.id})
    await audit(
        tx.db, actor_id=tx.actor.id, action="pinboard.note.offline", target=f"note:{note.id}",
        reason=reason, detail={"author_id": note.author_id, "board_id": note.board_id}, ip=tx.ip,
    )
    if note.author_id is not None and note.author_id != tx.actor.id:
        dm = channels.dm_channel(tx.actor.id, note.author_id)
        tx.emit(
            f"user:{note.author_id}", "note.taken_offline",
            {"note_id": note.id, "board_id": note.board_id, "reason": reason,
             "by": {"id": tx.actor.id, "name": tx.actor.display_name}, "dm": dm},
            server=True,
        )
        # "Contact the author": the conversation opens with the reason as its first message.
        tx.emit(dm, "message", {"text": reason, "kind": "moderation", "note_id": note.id})
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
    await _publish(tx, acc, note, "reinstate")
    if note.author_id is not None:
        tx.emit(f"user:{note.author_id}", "note.reinstated",
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
    await _publish(tx, acc, note, "approve")
    if note.author_id is not None:
        tx.emit(f"user:{note.author_id}", "note.approved",
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
    if not authz.may_see_note_history(acc.viewer):
        raise Forbidden("only trainers and admins see the edit history")
    rows = await db.execute(
        select(NoteRevision).where(NoteRevision.note_id == note.id).order_by(NoteRevision.version)
    )
    return list(rows.scalars())


# --- replies and votes -----------------------------------------------------------------


def _require_public(note: Note) -> None:
    if note.state != NoteState.PUBLISHED.value:
        raise Conflict("not_published", "replies and votes are for published notes")


async def add_reply(
    tx: BoardTx,
    acc: BoardAccess,
    note: Note,
    text: str,
    parent_id: int | None,
    client_id: str | None = None,
) -> tuple[Reply, bool]:
    """Reply under a note; returns the reply and whether it is new (see ``create_note``)."""
    if client_id is not None:
        earlier = await _by_client_id(tx.db, Reply, tx.actor.id, client_id)
        if earlier is not None:
            return _same_place(earlier, earlier.note_id, note.id, "reply"), False
    if not authz.may_post_on_board(acc.viewer):
        raise Forbidden("you may not post on this board")
    _require_public(note)
    await _check_section_writable(tx.db, acc, note.section_id)
    if parent_id is not None:
        parent = await tx.db.get(Reply, parent_id)
        if parent is None or parent.note_id != note.id:
            raise NotFound("parent reply")
    reply = Reply(
        note_id=note.id, parent_id=parent_id, author_id=tx.actor.id,
        text=clean_text(text, MAX_REPLY_CHARS, "reply"), client_id=client_id,
    )
    stored = await _insert_once(tx.db, reply, tx.actor.id, client_id)
    if stored is not reply:
        return _same_place(stored, stored.note_id, note.id, "reply"), False
    names = {tx.actor.id: tx.actor.display_name}
    tx.emit(acc.board.channel, "reply.added", {"reply": reply_view(reply, names)})
    return reply, True


async def delete_reply(tx: BoardTx, reply_id: int) -> Reply:
    """The reply keeps its place in the chain with its text removed."""
    reply = await tx.db.get(Reply, reply_id)
    if reply is None:
        raise NotFound("reply")
    note, acc = await note_for(tx.db, tx.actor, reply.note_id, lock=True)
    mine = reply.author_id == tx.actor.id and authz.may_post_on_board(acc.viewer)
    if not (mine or acc.viewer.is_moderator):
        raise Forbidden("only its author or a trainer may delete a reply")
    if reply.deleted_at is not None:
        raise Conflict("deleted", "the reply is deleted already")
    if not mine:
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.reply.delete",
            target=f"reply:{reply.id}", detail={"author_id": reply.author_id}, ip=tx.ip,
        )
    reply.text = ""
    reply.deleted_at = utcnow()
    rows = (
        await tx.db.execute(
            select(ChannelEvent).where(
                ChannelEvent.channel == acc.board.channel, ChannelEvent.type == "reply.added",
                ChannelEvent.created_at >= reply.created_at,
            )
        )
    ).scalars()
    for row in rows:
        if (row.body.get("reply") or {}).get("id") == reply.id:
            row.body = {"reply": {"id": reply.id, "note_id": note.id}, "redacted": True}
    tx.emit(acc.board.channel, "reply.deleted", {"id": reply.id, "note_id": note.id})
    return reply


async def _count_votes(db: AsyncSession, note_id: int) -> int:
    return int((await db.execute(select(func.count()).where(Vote.note_id == note_id))).scalar_one())


async def vote(tx: BoardTx, acc: BoardAccess, note: Note) -> int:
    """One vote per account per note, enforced by the primary key; 409 on a second."""
    if not authz.may_post_on_board(acc.viewer):
        raise Forbidden("you may not vote on this board")
    _require_public(note)
    await _check_section_writable(tx.db, acc, note.section_id)
    exists = await tx.db.get(Vote, (note.id, tx.actor.id))
    if exists is not None:
        raise Conflict("already_voted", "you have voted for this note already")
    try:
        async with tx.db.begin_nested():
            tx.db.add(Vote(note_id=note.id, user_id=tx.actor.id))
    except IntegrityError:  # a concurrent second vote of the same account
        raise Conflict("already_voted", "you have voted for this note already") from None
    count = await _count_votes(tx.db, note.id)
    tx.emit(acc.board.channel, "vote.changed", {"note_id": note.id, "votes": count})
    return count


async def unvote(tx: BoardTx, acc: BoardAccess, note: Note) -> int:
    existing = await tx.db.get(Vote, (note.id, tx.actor.id))
    if existing is None:
        raise NotFound("vote")
    _require_public(note)
    await tx.db.delete(existing)
    await tx.db.flush()
    count = await _count_votes(tx.db, note.id)
    tx.emit(acc.board.channel, "vote.changed", {"note_id": note.id, "votes": count})
    return count
