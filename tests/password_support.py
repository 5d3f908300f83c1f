"""Helpers of the self-service password tests: a client from its own address, the
"Forgot password?" links in the outbox (written by a background task: waited for)."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any

import httpx
from sqlalchemy import select

from storage.db import Database
from storage.models import MailCampaign, MailDelivery, User

RESET_LINK = re.compile(r"/reset-password/([A-Za-z0-9_-]+)")
OUTBOX_WAIT_SECS = 20.0  # generous: the mail is queued by a task after the answer

_addresses = itertools.count(1)


def own_client(app: Any) -> httpx.AsyncClient:
    """A client from an address of its own: the per-client throttle of one test does not
    reach another's (the databases live as long as the test session)."""
    n = next(_addresses)
    host = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def reset_mails(services: Any, email: str) -> list[MailCampaign]:
    return await reset_mails_in(services.db, email)


async def reset_mails_in(database: Database, email: str) -> list[MailCampaign]:
    async with database.session() as db:
        return list(
            (
                await db.execute(
                    select(MailCampaign)
                    .join(MailDelivery, MailDelivery.campaign_id == MailCampaign.id)
                    .join(User, User.id == MailDelivery.user_id)
                    .where(User.email == email.lower(), MailCampaign.body_text.contains(
                        "/reset-password/"
                    ))
                    .order_by(MailCampaign.id)
                )
            ).scalars()
        )


async def wait_for_reset_links(services: Any, email: str, count: int = 1) -> list[str]:
    """The reset links mailed to ``email``, once there are ``count`` of them."""
    return await wait_for_reset_links_in(services.db, email, count)


async def wait_for_reset_links_in(database: Database, email: str, count: int = 1) -> list[str]:
    deadline = time.monotonic() + OUTBOX_WAIT_SECS
    while True:
        mails = await reset_mails_in(database, email)
        tokens = [m.group(1) for c in mails for m in RESET_LINK.finditer(c.body_text)]
        if len(tokens) >= count:
            return tokens
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} reset link(s) for {email}, found {len(tokens)}")
        await asyncio.sleep(0.05)


async def settle(services: Any) -> None:
    """Wait until the hub's background tasks (the reset mails) are done."""
    hub = services.hub
    deadline = time.monotonic() + OUTBOX_WAIT_SECS
    while any(t.get_name() == "password-reset-mail" for t in hub.tasks._tasks):
        if time.monotonic() > deadline:
            raise AssertionError("the password-reset-mail tasks did not finish")
        await asyncio.sleep(0.05)
