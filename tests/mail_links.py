"""The set-password and join links classhub mailed to an address, read from the outbox."""

from __future__ import annotations

import re

from sqlalchemy import select

from storage.db import Database
from storage.models import MailCampaign, MailDelivery, User

LINK = re.compile(r"/invite/([A-Za-z0-9_-]+)")


async def links_in_outbox(db: Database, email: str) -> list[str]:
    """Tokens of the links in the mails queued for ``email``'s account, oldest first."""
    async with db.session() as session:
        bodies = (
            await session.execute(
                select(MailCampaign.body_text)
                .join(MailDelivery, MailDelivery.campaign_id == MailCampaign.id)
                .join(User, User.id == MailDelivery.user_id)
                .where(User.email == email.lower())
                .order_by(MailCampaign.id)
            )
        ).scalars()
        return [m.group(1) for body in bodies for m in LINK.finditer(body)]
