"""The pinboard: boards, sections, notes with edit history, replies, votes, photos.

A board belongs to an event (channel ``event:<id>:board``) or to a learning
group inside one (channel ``group:<id>:board``). Every visible change is also
an event in that channel's log (see ``storage/repo/pinboard.py``); these rows
are the current state a snapshot is built from.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class NoteState(enum.StrEnum):
    """A note's life: DRAFT -> (PENDING ->) PUBLISHED <-> OFFLINE; DELETED is a tombstone.

    Transitions are checked in ``storage.repo.pinboard``; see docs/pinboard.md.
    """

    DRAFT = "draft"  # visible to its author only
    PENDING = "pending"  # released on a pre-moderated board, waiting for a trainer
    PUBLISHED = "published"
    OFFLINE = "offline"  # taken offline by a trainer: author and trainers only
    DELETED = "deleted"  # a tombstone kept because replies hang off it


class Board(Base):
    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("learning_groups.id", ondelete="CASCADE"), index=True
    )
    # The board's channel name: one board per event and per group.
    channel: Mapped[str] = mapped_column(String(120), unique=True)
    premoderation: Mapped[bool] = mapped_column(Boolean, default=False)
    # Notes written from now on are anonymous (docs/pinboard.md, "Anonymous notes").
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


class BoardSection(Base):
    __tablename__ = "board_sections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Locked by a trainer: participants may not write in it (trainers still may).
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Locked by an admin: read-only for everyone but admins, trainers included.
    admin_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


class Attachment(Base):
    """A photo, stored encrypted under ``<var>/attachments/``; only metadata lives here."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)  # plaintext bytes of the re-encoded image
    # Which data key encrypted the files (see storage/crypto.py); rotation rewrites both.
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    thumb_nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    thumb_content_type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), index=True)
    # NULL: the board's "unsorted" column (also where notes of a deleted section go).
    section_id: Mapped[int | None] = mapped_column(
        ForeignKey("board_sections.id", ondelete="SET NULL"), index=True
    )
    # NULL once the author's account is deleted; the note stays readable.
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text, default="")
    colour: Mapped[str] = mapped_column(String(16), default="yellow")
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Locked by an admin (a trainer's pinned note): read-only for everyone but admins.
    admin_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default=NoteState.DRAFT.value, index=True)
    offline_reason: Mapped[str] = mapped_column(Text, default="")
    offline_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Bumped on every edit; the previous text is kept in note_revisions.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Written on an anonymous board: the room (trainers too) sees no author; the author
    # is still stored, and only an admin with a reason learns it (audited).
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Chosen by the writing client; (author_id, client_id) makes a retried create
    # return the note it stored the first time instead of a second note.
    client_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("author_id", "client_id"), AUTOINCREMENT)


class NoteRevision(Base):
    """One version of a note's content, written whenever a released note changes."""

    __tablename__ = "note_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    colour: Mapped[str] = mapped_column(String(16))
    photo_id: Mapped[int | None] = mapped_column(BigId)
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("note_id", "version"), AUTOINCREMENT)


class Reply(Base):
    """A reply under a note; ``parent_id`` lets a reply answer another reply."""

    __tablename__ = "note_replies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("note_replies.id", ondelete="SET NULL")
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A deleted reply keeps its place in the chain with its text removed.
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # As Note.client_id: a retried reply is stored once.
    client_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("author_id", "client_id"), AUTOINCREMENT)


class Vote(Base):
    """One vote per account per note: the primary key refuses a second one."""

    __tablename__ = "note_votes"

    note_id: Mapped[int] = mapped_column(
        ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = [
    "Attachment",
    "Board",
    "BoardSection",
    "Note",
    "NoteRevision",
    "NoteState",
    "Reply",
    "Vote",
]
