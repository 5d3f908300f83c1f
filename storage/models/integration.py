"""The server API's keys, webhook subscriptions, and the notification outbox.

An API key is a random token shown once; only its SHA-256 is stored (see
storage/repo/api_keys.py for why a plain hash is right for random tokens). A key
may hold webhook subscriptions: a URL, its signing secret and the topics it hears.

``notify_outbox`` is the one outbox of notifications to the outside: a row is
written in the same transaction as the change it tells of and delivered at least
once by a worker that leases it (realtime/webhook_worker.py). ``consumer`` names
who delivers it ("webhook" today; Web Push is meant to be one more consumer with
its own subscriptions table, ``target_id`` naming its subscription).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # The token's first characters, shown in lists so an admin can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100))  # comma-separated, sorted
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = AUTOINCREMENT


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # "whsec_" + base64 of 32 random bytes (Standard Webhooks); needed in clear to sign.
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


class WebhookTopic(Base):
    """One topic a subscription hears (storage/webhooks.py TOPICS)."""

    __tablename__ = "webhook_topics"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    DELIVERED = "delivered"
    FAILED = "failed"  # out of attempts; an admin may replay it
    SKIPPED = "skipped"  # nothing left to tell (the event was erased, the subscription ended)


class NotifyOutbox(Base):
    __tablename__ = "notify_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consumer: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(BigInteger)
    topic: Mapped[str] = mapped_column(String(40))
    # The channel event this tells of (its payload is read at delivery: an event erased
    # meanwhile is not sent); not a foreign key, erasure and retention remove events.
    channel_event_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default=OutboxStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_notify_outbox_due", "status", "next_attempt_at"),
        Index("ix_notify_outbox_target", "consumer", "target_id", "id"),
        AUTOINCREMENT,
    )


__all__ = ["ApiKey", "NotifyOutbox", "OutboxStatus", "WebhookSubscription", "WebhookTopic"]
