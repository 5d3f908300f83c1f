"""A board, who may do what on it, and the transaction of one request's change.

Every change function of the pinboard (``pinboard_sections``, ``pinboard_notes``,
``pinboard_moderation``, ``pinboard_replies``) runs inside the caller's
transaction and queues the channel events that describe its change on a
:class:`BoardTx`; the caller appends them (``BoardTx.commit_events``) before the
transaction commits and hands the stored events to the hub after it. So a board
change and its event are durable together, or not at all.

What goes into the *board* channel is only what every reader of the board may
see: drafts are never logged, queued and offline notes appear as bare ids,
and when a note goes offline or is deleted the earlier events that carried
its text are redacted (``pinboard_redaction``), so replaying the channel does
not bring it back. Personal notices go to ``user:<id>``; the moderation
conversation to a DM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.errors import DomainError, Forbidden, NotFound
from storage.event_types import BOARD_UPDATED
from storage.models import Board, BoardSection, Event, LearningGroup, Note, User, utcnow
from storage.repo import channel_log
from storage.repo.channel_log import NewEvent, StoredEvent
from storage.repo.logs import audit

MAX_NOTE_CHARS = 4000
MAX_REPLY_CHARS = 2000
COLOURS = ("yellow", "pink", "blue", "green", "orange", "purple", "white")


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
            NewEvent(
                channel=channel, type=type_, body=body, author_id=None if server else self.actor.id
            )
        )

    async def commit_events(self) -> list[StoredEvent]:
        if self.items:
            self.stored = await channel_log.append(self.db, self.items)
            self.items = []
        return self.stored


@dataclass(frozen=True)
class BoardAccess:
    board: Board
    viewer: authz_board.BoardViewer


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


async def board_access(db: AsyncSession, user: User, board: Board) -> BoardAccess:
    viewer = await authz_board.board_viewer(db, user, board.event_id, board.group_id)
    if not authz_board.may_read_board(viewer):
        # 404, not 403: an outsider learns nothing about the board's existence.
        raise NotFound("board")
    return BoardAccess(board, viewer)


async def event_board(db: AsyncSession, user: User, event_id: int) -> BoardAccess:
    if await db.get(Event, event_id) is None:
        raise NotFound("event")
    viewer = await authz_board.board_viewer(db, user, event_id, None)
    if not authz_board.may_read_board(viewer):
        raise NotFound("event")
    return BoardAccess(await _get_or_create_board(db, event_id, None), viewer)


async def group_board(db: AsyncSession, user: User, group_id: int) -> BoardAccess:
    group = await db.get(LearningGroup, group_id)
    if group is None:
        raise NotFound("group")
    viewer = await authz_board.board_viewer(db, user, group.event_id, group_id)
    if not authz_board.may_read_board(viewer):
        raise NotFound("group")
    return BoardAccess(await _get_or_create_board(db, group.event_id, group_id), viewer)


async def board_by_id(db: AsyncSession, user: User, board_id: int) -> BoardAccess:
    board = await db.get(Board, board_id)
    if board is None:
        raise NotFound("board")
    return await board_access(db, user, board)


def require_moderator(acc: BoardAccess) -> None:
    if not authz_board.may_moderate_board(acc.viewer):
        raise Forbidden("only the event's trainers, organisers and admins may do this")


async def update_board(
    tx: BoardTx, acc: BoardAccess, *, premoderation: bool | None = None,
    anonymous: bool | None = None,
) -> Board:
    """Pre-moderation, and anonymous notes (for notes written from now on), audited."""
    require_moderator(acc)
    board = acc.board
    if premoderation is not None:
        board.premoderation = premoderation
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.premoderation",
            target=f"board:{board.id}", detail={"on": premoderation}, ip=tx.ip,
        )
    if anonymous is not None:
        board.anonymous = anonymous
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.anonymous",
            target=f"board:{board.id}", detail={"on": anonymous}, ip=tx.ip,
        )
    tx.emit(board.channel, BOARD_UPDATED, {"board": {
        "id": board.id, "premoderation": board.premoderation, "anonymous": board.anonymous,
    }})
    return board


async def section_of(db: AsyncSession, acc: BoardAccess, section_id: int) -> BoardSection:
    section = await db.get(BoardSection, section_id)
    if section is None or section.board_id != acc.board.id:
        raise NotFound("section")
    return section


def check_section_admin_lock(acc: BoardAccess, section: BoardSection) -> None:
    if section.admin_locked and not acc.viewer.is_admin:
        raise DomainError("section_locked", "an admin locked this section", status=423)


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
    if board is None:
        raise RuntimeError(f"note {note.id} without its board")
    acc = await board_access(db, user, board)
    if not authz_board.may_see_note(acc.viewer, note.state, note.author_id):
        raise NotFound("note")
    return note, acc


async def check_section_writable(
    db: AsyncSession, acc: BoardAccess, section_id: int | None
) -> None:
    if section_id is None:
        return
    section = await section_of(db, acc, section_id)
    if not authz_board.may_write_in_section(acc.viewer, section.locked, section.admin_locked):
        raise DomainError("section_locked", f"the section {section.title!r} is locked", status=423)

