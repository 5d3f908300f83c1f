"""The mail outbox: enqueue a campaign, claim due deliveries with a lease, record outcomes.

Crash safety comes from the lease. A worker claims rows by setting
``lease_until``/``lease_owner`` in one short transaction, sends, then records
the outcome on the row. A worker that dies leaves its rows ``queued`` with a
lease that expires; any worker then claims them again. The only duplicate a
crash can cause is a message the SMTP server accepted after which the worker
died before recording "sent" (at-least-once; the stable Message-ID lets the
receiving side recognise it).

On PostgreSQL the claim is ``WITH c AS (SELECT ... FOR UPDATE SKIP LOCKED
LIMIT n) UPDATE ... WHERE id IN (SELECT id FROM c)``, so parallel workers take
disjoint rows without waiting on each other. SQLite has one writer at a time: the same
UPDATE runs under the database write lock, which makes the claim atomic there too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DeliveryStatus, MailCampaign, MailCategory, MailDelivery, User, utcnow
from storage.repo.audience import Recipient

# Serialises claims when the hourly budget is enforced on PostgreSQL: counting
# the hour's sends and taking rows must be one atomic step across workers.
CLAIM_LOCK_KEY = 0x6D61696C  # "mail"
UNSUBSCRIBED = "unsubscribed from information mail"


async def create_campaign(
    db: AsyncSession,
    *,
    sender_id: int | None,
    kind: str,
    category: MailCategory,
    subject: str,
    body_text: str,
    body_html: str | None,
    audience: dict[str, Any],
    event_ids: Sequence[int],
    recipients: Sequence[Recipient],
    send_at: dt.datetime | None = None,
) -> MailCampaign:
    """The campaign and one delivery per recipient, in the caller's transaction.

    Recipients who unsubscribed from information mail get a ``suppressed`` row
    at once, so the organiser sees them; the worker checks again at send time.
    """
    now = utcnow()
    campaign = MailCampaign(
        sender_id=sender_id,
        kind=kind,
        category=category.value,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        audience=audience,
        event_ids=list(event_ids),
        total=len(recipients),
        send_at=send_at or now,
        created_at=now,
    )
    db.add(campaign)
    await db.flush()
    rows = []
    for r in recipients:
        suppressed = category is MailCategory.INFORMATION and not r.wants_information_mail
        rows.append(
            {
                "campaign_id": campaign.id,
                "user_id": r.user_id,
                "email": None,
                "status": (
                    DeliveryStatus.SUPPRESSED if suppressed else DeliveryStatus.QUEUED
                ).value,
                "attempts": 0,
                "last_error": UNSUBSCRIBED if suppressed else "",
                "next_attempt_at": campaign.send_at,
                "queued_at": campaign.send_at,
            }
        )
    if rows:
        await db.execute(insert(MailDelivery), rows)
    return campaign


@dataclass(frozen=True)
class Claimed:
    """Everything a worker needs to send one delivery."""

    id: int
    campaign_id: int
    sender_id: int | None
    category: str
    subject: str
    body_text: str
    body_html: str | None
    user_id: int | None
    email: str | None
    display_name: str
    wants_information_mail: bool
    user_active: bool
    attempts: int
    queued_at: dt.datetime


def _due(now: dt.datetime) -> list[Any]:
    return [
        MailDelivery.status == DeliveryStatus.QUEUED.value,
        MailDelivery.next_attempt_at <= now,
        or_(MailDelivery.lease_until.is_(None), MailDelivery.lease_until < now),
    ]


async def hour_used(db: AsyncSession, now: dt.datetime) -> int:
    """Messages sent in the last hour plus those leased right now (about to be sent)."""
    sent = (
        await db.execute(
            select(func.count()).where(MailDelivery.sent_at >= now - dt.timedelta(hours=1))
        )
    ).scalar_one()
    in_flight = (
        await db.execute(
            select(func.count()).where(
                MailDelivery.status == DeliveryStatus.QUEUED.value,
                MailDelivery.lease_until >= now,
            )
        )
    ).scalar_one()
    return int(sent) + int(in_flight)


async def claim(
    db: AsyncSession,
    *,
    owner: str,
    limit: int,
    lease_secs: float,
    rate_per_hour: int = 0,
    now: dt.datetime | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries for ``owner``; commit right after."""
    now = now or utcnow()
    if rate_per_hour > 0:
        if db.get_bind().dialect.name == "postgresql":
            await db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLAIM_LOCK_KEY})
        limit = min(limit, rate_per_hour - await hour_used(db, now))
    if limit <= 0:
        return []
    candidates = (
        select(MailDelivery.id)
        .where(*_due(now))
        .order_by(MailDelivery.next_attempt_at, MailDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        # A CTE runs once: PostgreSQL may rescan an IN (...LIMIT n) subquery and
        # take more than n rows; a CTE with FOR UPDATE is never inlined.
        .cte("candidates")
    )
    ids = (
        await db.execute(
            update(MailDelivery)
            # The due conditions again: a row another worker leased between our
            # subquery and our UPDATE fails the re-check instead of being taken twice.
            .where(MailDelivery.id.in_(select(candidates.c.id)), *_due(now))
            .values(lease_until=now + dt.timedelta(seconds=lease_secs), lease_owner=owner)
            .returning(MailDelivery.id)
        )
    ).scalars().all()
    if not ids:
        return []
    rows = await db.execute(
        select(MailDelivery, MailCampaign, User)
        .join(MailCampaign, MailCampaign.id == MailDelivery.campaign_id)
        .outerjoin(User, User.id == MailDelivery.user_id)
        .where(MailDelivery.id.in_(ids))
        .order_by(MailDelivery.id)
    )
    out = []
    for d, c, u in rows:
        out.append(
            Claimed(
                id=d.id,
                campaign_id=c.id,
                sender_id=c.sender_id,
                category=c.category,
                subject=c.subject,
                body_text=c.body_text,
                body_html=c.body_html,
                user_id=d.user_id,
                email=u.email if u is not None else None,
                display_name=u.display_name if u is not None else "",
                wants_information_mail=bool(u.wants_information_mail) if u is not None else False,
                user_active=u is not None and u.status == "active",
                attempts=d.attempts,
                queued_at=d.queued_at,
            )
        )
    return out


async def release(db: AsyncSession, ids: Sequence[int], owner: str) -> None:
    """Give back claimed rows that were never started (graceful shutdown)."""
    if ids:
        await db.execute(
            update(MailDelivery)
            .where(MailDelivery.id.in_(list(ids)), MailDelivery.lease_owner == owner)
            .values(lease_until=None, lease_owner=None)
        )


async def mark_sent(
    db: AsyncSession, delivery_id: int, *, email: str, message_id: str, at: dt.datetime
) -> None:
    await db.execute(
        update(MailDelivery)
        .where(MailDelivery.id == delivery_id, MailDelivery.status == DeliveryStatus.QUEUED.value)
        .values(
            status=DeliveryStatus.SENT.value,
            attempts=MailDelivery.attempts + 1,
            email=email,
            message_id=message_id,
            sent_at=at,
            last_error="",
            lease_until=None,
        )
    )


async def mark_final(
    db: AsyncSession,
    delivery_id: int,
    status: DeliveryStatus,
    *,
    error: str,
    attempted: bool,
    email: str | None = None,
    message_id: str | None = None,
) -> None:
    values: dict[str, Any] = {
        "status": status.value,
        "last_error": error[:2000],
        "lease_until": None,
    }
    if attempted:
        values["attempts"] = MailDelivery.attempts + 1
    if email is not None:
        values["email"] = email
    if message_id is not None:
        values["message_id"] = message_id
    await db.execute(
        update(MailDelivery)
        .where(MailDelivery.id == delivery_id, MailDelivery.status == DeliveryStatus.QUEUED.value)
        .values(**values)
    )


async def mark_retry(
    db: AsyncSession, delivery_id: int, *, error: str, next_attempt_at: dt.datetime
) -> None:
    await db.execute(
        update(MailDelivery)
        .where(MailDelivery.id == delivery_id, MailDelivery.status == DeliveryStatus.QUEUED.value)
        .values(
            attempts=MailDelivery.attempts + 1,
            last_error=error[:2000],
            next_attempt_at=next_attempt_at,
            lease_until=None,
            lease_owner=None,
        )
    )


async def retry_failed(db: AsyncSession, campaign_id: int) -> int:
    """Queue the campaign's failed deliveries again, with a fresh maximum age."""
    now = utcnow()
    result = await db.execute(
        update(MailDelivery)
        .where(
            MailDelivery.campaign_id == campaign_id,
            MailDelivery.status == DeliveryStatus.FAILED.value,
        )
        .values(
            status=DeliveryStatus.QUEUED.value,
            next_attempt_at=now,
            queued_at=now,
            lease_until=None,
            lease_owner=None,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def counts(db: AsyncSession, campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per campaign: how many deliveries are in each status."""
    out: dict[int, dict[str, int]] = {
        cid: {s.value: 0 for s in DeliveryStatus} for cid in campaign_ids
    }
    if not campaign_ids:
        return out
    rows = await db.execute(
        select(MailDelivery.campaign_id, MailDelivery.status, func.count())
        .where(MailDelivery.campaign_id.in_(list(campaign_ids)))
        .group_by(MailDelivery.campaign_id, MailDelivery.status)
    )
    for cid, status, n in rows:
        out[cid][status] = int(n)
    return out


async def next_due_within(db: AsyncSession, now: dt.datetime, secs: float) -> bool:
    """Is any queued delivery due before now + secs (claimable or leased)?"""
    row = (
        await db.execute(
            select(MailDelivery.id)
            .where(
                MailDelivery.status == DeliveryStatus.QUEUED.value,
                MailDelivery.next_attempt_at <= now + dt.timedelta(seconds=secs),
            )
            .limit(1)
        )
    ).first()
    return row is not None
