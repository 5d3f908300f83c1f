"""The channel log: every channel is an append-only list of events with a gapless sequence.

Chat messages, board changes, organiser news and personal notices are all
events here; edits, moderation and deletions are further events that point
at the event they change (``ref_id``). The store is the system of record; the
broker only carries news of committed events.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class Channel(Base):
    __tablename__ = "channels"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    # The sequence of the newest event; the next event gets last_seq + 1.
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class ChannelEvent(Base):
    __tablename__ = "channel_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(ForeignKey("channels.name", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(40))
    # NULL for events the server writes, and once the author's account is deleted.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Chosen by the publishing client; (author_id, client_id) makes a retry idempotent.
    client_id: Mapped[str | None] = mapped_column(String(64))
    # The event this one edits, deletes or otherwise refers to.
    ref_id: Mapped[int | None] = mapped_column(BigId, index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("channel", "seq"),
        UniqueConstraint("author_id", "client_id"),
        Index("ix_channel_events_author_id", "author_id"),
        Index("ix_channel_events_created_at", "created_at"),
        AUTOINCREMENT,
    )
