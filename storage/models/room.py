"""Trainers' controls of an event's chat rooms (issue 17): settings, mutes, held and removed
messages. The rules that apply them on the publish path: realtime/room_rules.py."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class RoomSettings(Base):
    """One row per event whose trainers changed a setting (no row: all off)."""

    __tablename__ = "room_settings"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    # At most one message per this many seconds per person (0: off; trainers exempt).
    slow_secs: Mapped[int] = mapped_column(Integer, default=0)
    # Only trainers and organisers may post (chat and board).
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    # Posts matching one of these words are held for review (never shown to participants).
    words: Mapped[list[str]] = mapped_column(JSON, default=list)
    announcement: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoomMute(Base):
    __tablename__ = "room_mutes"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    muted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class HeldStatus(enum.StrEnum):
    HELD = "held"
    APPROVED = "approved"
    REJECTED = "rejected"


class HeldMessage(Base):
    """A post that matched the event's word list: stored here, not in the channel log,
    until a trainer approves it (then it is published as its author's) or rejects it."""

    __tablename__ = "held_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(120))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    ref_id: Mapped[int | None] = mapped_column(BigId)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    word: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default=HeldStatus.HELD.value)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("author_id", "client_id"), AUTOINCREMENT)


class RemovedMessage(Base):
    """A chat message a trainer removed: its log row now carries only the placeholder;
    the original body is kept here for admins (review) and for restoring it."""

    __tablename__ = "removed_messages"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("channel_events.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    original: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(String(500), default="")
    removed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    removed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
