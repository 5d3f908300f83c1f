"""What mail keeps about a person, forgotten when their account is erased.

Called by ``storage.repo.erasure.erase_user`` (step 3 of its fixed order). Deliveries
stay as counted rows of their campaign (the sender's statistics), without an address and without
the server's answer, which often quotes the address; mail still queued for the
person is not sent. "Seen" acknowledgements go entirely.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DeliveryStatus, EventChangeSeen, MailDelivery


async def erase_mail(db: AsyncSession, user_id: int) -> dict[str, int]:
    """Counts for the erasure report; the text of mails is the sender's and stays."""
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

