"""Data-protection storage: the optional profile photo.

The full-text index over the channel log is not a model: it is dialect-specific
DDL in migration ``0003_privacy`` (an FTS5 table kept in sync by triggers on
SQLite, a generated ``tsvector`` column with a GIN index on PostgreSQL) and is
queried through ``storage.repo.search``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class ProfilePhoto(Base):
    """One re-encoded JPEG per person; deleting the row removes the photo entirely."""

    __tablename__ = "profile_photos"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    content_type: Mapped[str] = mapped_column(String(40), default="image/jpeg")
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


__all__ = ["ProfilePhoto"]
