"""Training events, who is enrolled in what role, and learning groups."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class EventStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CHANGED = "changed"
    CANCELLED = "cancelled"


class Role(enum.StrEnum):
    """Per-event roles, ordered from least to most rights."""

    PARTICIPANT = "participant"
    TRAINER = "trainer"
    ORGANISER = "organiser"


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    location: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.SCHEDULED.value)
    # Days after ends_at that chat, notes and photos are kept (issue 7 refines per kind).
    retention_days: Mapped[int] = mapped_column(Integer, default=365)
    # Per kind, overriding retention_days when set (issue 7; NULL = use retention_days).
    chat_retention_days: Mapped[int | None] = mapped_column(Integer)
    notes_retention_days: Mapped[int | None] = mapped_column(Integer)
    photos_retention_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The suite's own id of this event (server API provisioning).
    external_id: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_events_external_id", "external_id", unique=True), AUTOINCREMENT)


class Enrolment(Base):
    __tablename__ = "enrolments"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), default=Role.PARTICIPANT.value)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LearningGroup(Base):
    __tablename__ = "learning_groups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The suite's own id of this group (server API provisioning).
    external_id: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("event_id", "name"),
        Index("ix_learning_groups_external_id", "external_id", unique=True),
        AUTOINCREMENT,
    )


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("learning_groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
