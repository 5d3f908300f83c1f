"""Organiser broadcasts: event change history, who saw a change, and the mail outbox.

The outbox is two tables: a campaign (what is sent, to which audience) and one
delivery row per recipient. Both are written in the transaction that decides
to send, so a mail can never be "decided but lost"; ``classhub mailer``
workers claim deliveries with a lease and record each outcome on the row.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class MailCategory(enum.StrEnum):
    SERVICE = "service"  # about an event the person is in; cannot be unsubscribed from
    INFORMATION = "information"  # news and material; honours wants_information_mail


class CampaignKind(enum.StrEnum):
    BULK = "bulk"
    EVENT_CHANGE = "event_change"
    MEDIA_NOTICE = "media_notice"  # a medium withdrawn after revoked consent (to staff, admins)


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting (possibly for a retry at next_attempt_at)
    SENT = "sent"  # the server accepted it (250)
    FAILED = "failed"  # temporary failures until the maximum age: given up
    BOUNCED = "bounced"  # permanent failure (5xx); last_error holds the server's answer
    SUPPRESSED = "suppressed"  # not sent: unsubscribed from information mail, or no address


FINAL_STATUSES = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED, DeliveryStatus.SUPPRESSED}
)


class EventChange(Base):
    """One organiser edit of an event (time, place, description) or its cancellation."""

    __tablename__ = "event_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # "changed" | "cancelled"
    # {field: [before, after]} with datetimes as ISO strings.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    # The news event in event:<id>:news that carries the live banner.
    news_event_id: Mapped[int | None] = mapped_column(BigId)
    news_seq: Mapped[int | None] = mapped_column(BigInteger)
    campaign_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


class EventChangeSeen(Base):
    """A member's client showed the change (the live banner) to them."""

    __tablename__ = "event_change_seen"

    change_id: Mapped[int] = mapped_column(
        ForeignKey("event_changes.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    via: Mapped[str] = mapped_column(String(8), default="http")  # "ws" | "http"


class MailCampaign(Base):
    __tablename__ = "mail_campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default=CampaignKind.BULK.value)
    category: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # How the audience was chosen, as composed (for display; recipients are the rows).
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The events the audience came from: their trainers/organisers may see addresses.
    event_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    total: Mapped[int] = mapped_column(Integer, default=0)
    send_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


class MailDelivery(Base):
    """One message to one recipient; the unit a worker claims, sends and records."""

    __tablename__ = "mail_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("mail_campaigns.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The address the message went to (filled when sent; the account's address may change).
    email: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # Not before this time (send_at of a scheduled campaign, or the next retry).
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Retries stop once a delivery is this old (reset by "retry failed").
    queued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker owns the row until lease_until; after that any worker may take it over.
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        UniqueConstraint("campaign_id", "user_id"),
        Index("ix_mail_deliveries_due", "status", "next_attempt_at"),
        Index("ix_mail_deliveries_sent_at", "sent_at"),
        AUTOINCREMENT,
    )


__all__ = [
    "FINAL_STATUSES",
    "CampaignKind",
    "DeliveryStatus",
    "EventChange",
    "EventChangeSeen",
    "MailCampaign",
    "MailCategory",
    "MailDelivery",
]
