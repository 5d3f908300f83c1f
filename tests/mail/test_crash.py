"""A `classhub mailer` process killed with SIGKILL mid-campaign, then restarted.

Every recipient ends up with exactly one message once duplicates are recognised
by their Message-ID; a raw duplicate can only be a message the server accepted
in the instant before the kill, so there are at most MAIL_CONCURRENCY of them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mail.conftest import Env, SmtpServer, statuses
from tests.mail.test_delivery import campaign_to

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 4


def mailer_env(env: Env, smtp: SmtpServer) -> dict[str, str]:
    s = env.settings
    return {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": s.database_url,
        "MAIL_URL": smtp.url,
        "CLASSHUB_VAR_DIR": str(s.var_dir),
        "SECRET_KEY": s.secret_key,
        "DATA_KEY": s.data_key,
        "PUBLIC_URL": s.public_url,
        "REDIS_PREFIX": s.redis_prefix,
        "MAIL_RATE_PER_SEC": "25",
        "MAIL_CONCURRENCY": str(CONCURRENCY),
        "MAIL_LEASE_SECS": "2",
        "MAIL_POLL_SECS": "0.1",
    }


async def start_mailer(env: Env, smtp: SmtpServer, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", "mailer", "--log-level", "warning", *args,
        cwd=ROOT, env=mailer_env(env, smtp),
    )


@pytest.mark.slow
async def test_killed_worker_restarts_and_every_recipient_gets_exactly_one(
    env: Env, smtp: SmtpServer
) -> None:
    n = 60
    campaign, people, _ = await campaign_to(env, n)
    proc = await start_mailer(env, smtp)
    try:
        async with asyncio.timeout(60):
            while smtp.handler.count() < 15:
                await asyncio.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = smtp.handler.count()
    rows = await statuses(env.services, campaign.id)
    assert before < n and sum(1 for r in rows if r[1] == "queued") > 0  # killed mid-campaign

    restarted = await start_mailer(env, smtp, "--until-idle")
    async with asyncio.timeout(90):
        assert await restarted.wait() == 0

    got = smtp.handler.by_rcpt()
    assert sorted(got) == sorted(p.email for p in people)
    distinct = {rcpt: {m.message["Message-ID"] for m in msgs} for rcpt, msgs in got.items()}
    assert all(len(ids) == 1 for ids in distinct.values())
    duplicates = smtp.handler.count() - n
    assert 0 <= duplicates <= CONCURRENCY
    assert {r[1] for r in await statuses(env.services, campaign.id)} == {"sent"}


async def test_graceful_stop_gives_back_unstarted_claims(env: Env, smtp: SmtpServer) -> None:
    """SIGTERM: no new claims, nothing half-done, leases of unstarted rows released."""
    n = 40
    campaign, _people, _ = await campaign_to(env, n)
    proc = await start_mailer(env, smtp)
    async with asyncio.timeout(60):
        while smtp.handler.count() < 5:
            await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        assert await proc.wait() == 0
    from sqlalchemy import select

    from storage.models import MailDelivery

    async with env.services.db.session() as db:
        rows: list[Any] = list(
            (
                await db.execute(
                    select(MailDelivery).where(MailDelivery.campaign_id == campaign.id)
                )
            ).scalars()
        )
    sent = [r for r in rows if r.status == "sent"]
    queued = [r for r in rows if r.status == "queued"]
    assert len(sent) == smtp.handler.count() and len(sent) + len(queued) == n
    assert all(r.lease_until is None for r in queued)  # free for the next worker at once
