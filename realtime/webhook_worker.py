"""The webhook delivery worker: claims due rows of the notification outbox, signs, POSTs.

Runs as a task of every server process (web/app.py's lifespan). Rows are leased
(storage/repo/notify_outbox.py, the mail outbox's pattern), so several
processes never send one row at once; a process that dies mid-send leaves a
lease that expires, and another process sends the row again: delivery is at
least once, and ``webhook-id`` (``msg_<row id>``, the same on every attempt) lets
the receiver drop repeats. A 2xx answer is success; anything else (another
status, a redirect, a time-out, a refused connection) is retried after
``WEBHOOK_RETRY_SECS``, doubled per attempt up to ``WEBHOOK_RETRY_MAX_SECS``,
until ``WEBHOOK_MAX_ATTEMPTS``; then the row is ``failed`` and an admin may
replay it. Signatures: Standard Webhooks (storage/webhooks.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import socket
import time
from typing import Final

import httpx

from storage.db import Database
from storage.models import utcnow
from storage.repo import notify_outbox
from storage.repo.notify_outbox import Claimed
from storage.settings import Settings
from storage.webhooks import backoff_secs, sign

log = logging.getLogger("classhub.webhooks")

BATCH: Final = 32  # rows claimed at a time, sent concurrently
LEASE_EXTRA_SECS: Final = 30.0  # beyond the receiver's time-out: the row's record is written
USER_AGENT: Final = "classhub-webhooks/1"


class WebhookWorker:
    def __init__(self, settings: Settings, db: Database, *, owner: str | None = None) -> None:
        self.settings = settings
        self.db = db
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._wake = asyncio.Event()
        self.sent = 0  # deliveries answered 2xx (a metric, and for tests)
        self.failed_attempts = 0

    def wake(self) -> None:
        """Look for due rows now (a replay), not at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        timeout = httpx.Timeout(self.settings.webhook_timeout_secs)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            while not stop.is_set():
                try:
                    busy = await self.run_once(client)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a task boundary: log, wait, go on
                    log.exception("webhook delivery pass failed; trying again")
                    busy = 0
                if busy:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        _first(stop, self._wake), self.settings.webhook_poll_secs
                    )

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """Claim one batch and deliver it; how many rows were claimed."""
        lease = self.settings.webhook_timeout_secs + LEASE_EXTRA_SECS
        async with self.db.session() as db:
            rows = await notify_outbox.claim(db, owner=self.owner, limit=BATCH, lease_secs=lease)
        if rows:
            await asyncio.gather(*(self._deliver(client, row) for row in rows))
        return len(rows)

    async def _deliver(self, client: httpx.AsyncClient, row: Claimed) -> None:
        if row.data is None:
            async with self.db.session() as db:
                await notify_outbox.mark_skipped(db, row.id)
            return
        body = json.dumps(
            {
                "type": row.topic,
                "timestamp": row.created_at.astimezone(dt.UTC).isoformat(),
                "data": row.data,
            },
            separators=(",", ":"),
        ).encode()
        msg_id, stamp = f"msg_{row.id}", int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(row.secret, msg_id, stamp, body),
        }
        status: int | None = None
        try:
            answer = await client.post(row.url, content=body, headers=headers)
            status = answer.status_code
            error = "" if 200 <= status < 300 else f"the receiver answered {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        async with self.db.session() as db:
            if not error and status is not None:
                self.sent += 1
                await notify_outbox.mark_delivered(db, row.id, status_code=status)
                return
            self.failed_attempts += 1
            attempts = row.attempts + 1
            s = self.settings
            retry_at = (
                utcnow() + dt.timedelta(
                    seconds=backoff_secs(attempts, s.webhook_retry_secs, s.webhook_retry_max_secs)
                )
                if attempts < s.webhook_max_attempts
                else None
            )
            await notify_outbox.mark_attempt_failed(
                db, row.id, error=error, status_code=status, next_attempt_at=retry_at
            )


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
