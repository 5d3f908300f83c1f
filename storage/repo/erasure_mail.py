"""What mail keeps about a person, forgotten when their account is erased.

Registered on ``storage.repo.erasure.EXTRA_ERASERS`` at import (``classhub``
commands and the web app import this module). Deliveries stay as counted rows
of their campaign (the sender's statistics), without an address and without
the server's answer, which often quotes the address; mail still queued for the
person is not sent. "Seen" acknowledgements go entirely.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DeliveryStatus, EventChangeSeen, MailDelivery
from storage.repo.erasure import EXTRA_ERASERS


async def erase_mail(db: AsyncSession, user_id: int, erase_content: bool) -> dict[str, int]:
    queued = await db.execute(
        update(MailDelivery)
        .where(MailDelivery.user_id == user_id, MailDelivery.status == DeliveryStatus.QUEUED.value)
        .values(status=DeliveryStatus.SUPPRESSED.value, lease_until=None, lease_owner=None)
    )
    blanked = await db.execute(
        update(MailDelivery)
        .where(MailDelivery.user_id == user_id)
        .values(email=None, last_error="account erased")
    )
    seen = await db.execute(delete(EventChangeSeen).where(EventChangeSeen.user_id == user_id))
    return {
        "mail_deliveries_blanked": int(blanked.rowcount or 0),  # type: ignore[attr-defined]
        "mail_queued_cancelled": int(queued.rowcount or 0),  # type: ignore[attr-defined]
        "event_change_seen": int(seen.rowcount or 0),  # type: ignore[attr-defined]
    }


if erase_mail not in EXTRA_ERASERS:
    EXTRA_ERASERS.append(erase_mail)
