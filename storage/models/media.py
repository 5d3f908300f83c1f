"""Trainers' media of learning sections, consent to appear in them, and restriction of
processing (GDPR Art. 18).

A consent is a log of decisions (``ConsentRecord``): the newest row of a person, kind
and event is the one in force, and the earlier rows are its history, shown in the
person's data export. Media files are not in the database: ``storage.media_files``
keeps them encrypted under ``<var>/media/``; a row holds their key id and nonce prefix.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class ConsentKind(enum.StrEnum):
    EVENT_MEDIA = "event_media"  # to appear in an event's photos and videos (per event)
    PROFILE_PHOTO = "profile_photo"  # to show one's own profile photo (no event)


class ConsentDecision(enum.StrEnum):
    GIVEN = "given"
    REFUSED = "refused"  # asked and declined (never given)
    REVOKED = "revoked"  # given earlier, taken back


class MediaKind(enum.StrEnum):
    PHOTO = "photo"
    VIDEO = "video"


class MediaState(enum.StrEnum):
    UPLOADING = "uploading"  # a video streaming in: nobody sees it; removed if the upload fails
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"  # files deleted; the row stays for the due list and audit


class ConsentRecord(Base):
    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    decision: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


class MediaItem(Base):
    __tablename__ = "media_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200), default="")
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(32), default="")
    nonce: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # the file's nonce prefix
    poster_nonce: Mapped[bytes | None] = mapped_column(LargeBinary)
    poster_key_id: Mapped[str | None] = mapped_column(String(32))
    poster_size: Mapped[int | None] = mapped_column(Integer)
    poster_content_type: Mapped[str | None] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped on blur and replace
    state: Mapped[str] = mapped_column(String(16), default=MediaState.PUBLISHED.value)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


class MediaTag(Base):
    """The trainer's statement that ``user_id`` is shown (``portrait``: mainly them)."""

    __tablename__ = "media_tags"

    media_id: Mapped[int] = mapped_column(
        ForeignKey("media_items.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    portrait: Mapped[bool] = mapped_column(Boolean, default=False)


class MediaDue(Base):
    """A medium that shows someone who revoked consent: blur, replace or withdraw by due_at."""

    __tablename__ = "media_due"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    media_id: Mapped[int] = mapped_column(
        ForeignKey("media_items.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # blurred | replaced | withdrawn | withdrawn_overdue
    resolution: Mapped[str] = mapped_column(String(24), default="")

    __table_args__ = AUTOINCREMENT


class ProcessingRestriction(Base):
    """GDPR Art. 18: the person's data is kept but not used while ``lifted_at`` is NULL."""

    __tablename__ = "processing_restrictions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lift_note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = AUTOINCREMENT


__all__ = [
    "ConsentDecision",
    "ConsentKind",
    "ConsentRecord",
    "MediaDue",
    "MediaItem",
    "MediaKind",
    "MediaState",
    "MediaTag",
    "ProcessingRestriction",
]
