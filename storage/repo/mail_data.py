"""What mail keeps about a person, for their own access and export.

Erasure of the same data lives with the mail feature (``storage.repo.erasure_mail``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models.mail import EventChangeSeen, MailCampaign, MailDelivery


async def mails_received(db: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = await db.execute(
        select(MailDelivery, MailCampaign)
        .join(MailCampaign, MailCampaign.id == MailDelivery.campaign_id)
        .where(MailDelivery.user_id == user_id)
        .order_by(MailDelivery.id)
    )
    return [
        {
            "campaign_id": c.id,
            "kind": c.kind,
            "category": c.category,
            "subject": c.subject,
            "body_text": c.body_text,
            "status": d.status,
            "address": d.email,
            "queued_at": d.queued_at.isoformat(),
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            "attempts": d.attempts,
            "last_error": d.last_error,
        }
        for d, c in rows
    ]


async def changes_seen(db: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = (
        await db.execute(select(EventChangeSeen).where(EventChangeSeen.user_id == user_id))
    ).scalars()
    return [
        {"change_id": r.change_id, "seen_at": r.seen_at.isoformat(), "via": r.via} for r in rows
    ]
