"""The mail worker: claim due deliveries, send each at the configured pace, record outcomes.

One dispatcher claims rows (a short transaction per batch) into a small
queue; ``MAIL_CONCURRENCY`` slots take them one at a time, each with its own
SMTP connection. Every send first waits for the per-second sliding window:
this worker's own, and with Redis (``REDIS_URL``) the one all workers share
(a worker whose Redis is away paces itself alone until it is back); the
hourly budget is enforced at claim time across all workers (the store counts
the hour's sends).

Shutdown (SIGTERM, or the stop event): no new claims; rows claimed but not
started are given back at once; messages being sent finish and are recorded.
A SIGKILL skips all that: the leases of the dead worker's rows expire after
``MAIL_LEASE_SECS`` and another worker (or the restarted one) sends them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from realtime.limits import shared_limits
from realtime.mailer.jobs import JobContext, JobRunner
from realtime.mailer.message import build_message, message_id
from realtime.mailer.pacing import full_jitter, window_for_rate
from realtime.mailer.transport import PermanentFailure, TemporaryFailure, Transport, open_transport
from storage.db import Database
from storage.event_types import MAIL_PROGRESS
from storage.mail_config import MailSettings
from storage.models import DeliveryStatus, MailCategory, utcnow
from storage.repo import outbox
from storage.repo.channel_log import NewEvent, StoredEvent, append
from storage.settings import Settings

log = logging.getLogger("classhub.mailer")

Publish = Callable[[list[StoredEvent]], Awaitable[None]]
# How often the sender's progress bar is updated (at most; only when counts changed).
PROGRESS_SECS = 1.0
# How long a graceful stop waits for messages already being sent.
STOP_GRACE_SECS = 30.0


class MailWorker:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        owner: str | None = None,
        transport_factory: Callable[[], Transport] | None = None,
        publish: Publish | None = None,
        jobs: JobRunner | None = None,
        progress_secs: float = PROGRESS_SECS,
    ) -> None:
        if settings.mail is None:
            raise RuntimeError("MailWorker needs settings built by Settings.from_env")
        self.settings = settings
        self.mail: MailSettings = settings.mail
        self.db = db
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._transport_factory = transport_factory or (
            lambda: open_transport(self.mail.target, self.mail.sender, self.mail.smtp_timeout_secs)
        )
        self.publish = publish
        self.jobs = jobs if jobs is not None else JobRunner(JobContext(settings, db))
        self.progress_secs = progress_secs
        self._window = window_for_rate(self.mail.rate_per_sec)
        self._shared = shared_limits(settings)  # None without Redis: this worker's window is all
        self._starts = 0
        self._pace_lock = asyncio.Lock()
        # Monotonic start time of every send, newest last (tests and the measurement read it).
        self.send_starts: collections.deque[float] = collections.deque(maxlen=100_000)
        self.outcomes: collections.Counter[str] = collections.Counter()
        self._touched: dict[int, int | None] = {}
        self._last_pushed: dict[int, tuple[int, ...]] = {}
        self._busy = 0
        self._slot_freed = asyncio.Event()
        self._pending: list[
            tuple[Callable[[AsyncSession], Awaitable[None]], asyncio.Future[None]]
        ] = []
        self._pending_ready = asyncio.Event()
        self._recorder_stop = False

    # -- pacing -------------------------------------------------------------------

    async def _pace(self) -> None:
        # One lock: slots queue up for the window in order instead of racing for it.
        async with self._pace_lock:
            while True:
                now = time.monotonic()
                # This worker's own starts first: when they fill the window alone, the
                # shared one is full too and need not be asked.
                wait = self._window.delay(now)
                if wait <= 0 and self._shared is not None:
                    self._starts += 1
                    shared = await self._shared.mail_start(
                        self._window.limit, self._window.window_secs, f"{self.owner}:{self._starts}"
                    )
                    if shared is not None:  # None: Redis could not be asked, our window decides
                        wait = shared
                        now = time.monotonic()
                if wait <= 0:
                    self._window.record(now)
                    self.send_starts.append(now)
                    return
                await asyncio.sleep(wait)

    # -- one delivery -----------------------------------------------------------------

    async def _process(self, d: outbox.Claimed, transport: Transport) -> None:
        self._touched[d.campaign_id] = d.sender_id
        if not d.user_active or not d.email:
            await self._final(d.id, DeliveryStatus.SUPPRESSED, "no active account with an address")
            return
        if d.category == MailCategory.INFORMATION.value and not d.wants_information_mail:
            await self._final(d.id, DeliveryStatus.SUPPRESSED, outbox.UNSUBSCRIBED)
            return
        msg = build_message(
            d,
            sender=self.mail.sender,
            public_url=self.settings.public_url,
            secret_key=self.settings.secret_key,
        )
        mid = message_id(d.id, d.campaign_id, self.mail.sender)
        await self._pace()
        try:
            await transport.send(msg, d.email)
        except PermanentFailure as exc:
            await self._final(
                d.id, DeliveryStatus.BOUNCED, str(exc), attempted=True, email=d.email, mid=mid
            )
        except TemporaryFailure as exc:
            delay = full_jitter(d.attempts + 1, self.mail.retry_base_secs, self.mail.retry_cap_secs)
            now = utcnow()
            age = (now - d.queued_at).total_seconds() + delay
            if age > self.mail.max_age_secs:
                await self._final(
                    d.id, DeliveryStatus.FAILED, f"gave up: {exc}", attempted=True, email=d.email
                )
            else:
                next_at, error = now + dt.timedelta(seconds=delay), str(exc)
                await self._record(
                    lambda db: outbox.mark_retry(db, d.id, error=error, next_attempt_at=next_at)
                )
                self.outcomes["retry"] += 1
        else:
            email, at = d.email, utcnow()
            await self._record(
                lambda db: outbox.mark_sent(db, d.id, email=email, message_id=mid, at=at)
            )
            self.outcomes[DeliveryStatus.SENT.value] += 1

    async def _final(
        self,
        delivery_id: int,
        status: DeliveryStatus,
        error: str,
        *,
        attempted: bool = False,
        email: str | None = None,
        mid: str | None = None,
    ) -> None:
        await self._record(
            lambda db: outbox.mark_final(
                db,
                delivery_id,
                status,
                error=error,
                attempted=attempted,
                email=email,
                message_id=mid,
            )
        )
        self.outcomes[status.value] += 1

    # -- recording outcomes (group commit) -----------------------------------------------

    async def _record(self, op: Callable[[AsyncSession], Awaitable[None]]) -> None:
        """Store one outcome; returns once it is committed.

        Outcomes that arrive while a commit is running go into the next one
        together: one transaction for many messages instead of one each.
        """
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((op, fut))
        self._pending_ready.set()
        await fut

    async def _recorder(self) -> None:
        while True:
            await self._pending_ready.wait()
            self._pending_ready.clear()
            batch, self._pending = self._pending, []
            if not batch:
                if self._recorder_stop:
                    return
                continue
            try:
                async with self.db.session() as db:
                    for op, _ in batch:
                        await op(db)
            except Exception as exc:  # noqa: BLE001 - handed to each waiting slot
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
            self._pending_ready.set()  # look again: more may have come meanwhile

    async def _slot(self, queue: asyncio.Queue[outbox.Claimed | None]) -> None:
        transport = self._transport_factory()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                self._busy += 1
                try:
                    await self._process(item, transport)
                    # Again after the outcome is stored: the progress loop may
                    # have taken the mark set at the start before it counted.
                    self._touched[item.campaign_id] = item.sender_id
                except Exception:
                    log.exception("delivery %s: unexpected error", item.id)
                finally:
                    self._busy -= 1
                    self._slot_freed.set()
        finally:
            await transport.close()

    # -- progress ---------------------------------------------------------------------

    async def push_progress(self) -> None:
        """Append a ``mail_progress`` event to each touched campaign's sender channel."""
        touched, self._touched = self._touched, {}
        if not touched:
            return
        try:
            stored = await self._store_progress(touched)
        except BaseException:
            # Cancelled or failed: keep the marks so the next push covers them.
            self._touched = {**touched, **self._touched}
            raise
        if stored and self.publish is not None:
            try:
                await self.publish(stored)
            except Exception:
                log.exception("publishing mail progress failed")

    async def _store_progress(self, touched: dict[int, int | None]) -> list[StoredEvent]:
        keys: dict[int, tuple[int, ...]] = {}
        async with self.db.session() as db:
            by_campaign = await outbox.counts(db, list(touched))
            items = []
            for cid, sender in touched.items():
                c = by_campaign[cid]
                key = tuple(c[s.value] for s in DeliveryStatus)
                if sender is None or self._last_pushed.get(cid) == key:
                    continue
                keys[cid] = key
                body: dict[str, object] = {"campaign_id": cid, "total": sum(key), **c}
                body["done"] = c[DeliveryStatus.QUEUED.value] == 0
                items.append(NewEvent(f"user:{sender}", MAIL_PROGRESS, body))
            stored = await append(db, items) if items else []
        self._last_pushed.update(keys)  # only once committed
        return stored

    async def _progress_loop(self, done: asyncio.Event) -> None:
        # Ends by `done`, not by cancellation: a push cancelled after its commit
        # would store the same counts twice.
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.progress_secs)
            try:
                await self.push_progress()
            except Exception:
                log.exception("mail progress update failed")

    # -- the loop ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set."""
        await self._loop(stop, until_idle=False, horizon=0.0)

    async def run_until_idle(self, *, horizon_secs: float = 0.0) -> None:
        """Send until nothing queued is due now or within ``horizon_secs``.

        Rows leased by another (possibly dead) worker count as due, so this
        waits for their lease to end. Used by ``classhub mailer --until-idle``.
        """
        await self._loop(asyncio.Event(), until_idle=True, horizon=horizon_secs)

    async def _claim(self, limit: int) -> list[outbox.Claimed]:
        async with self.db.session() as db:
            return await outbox.claim(
                db,
                owner=self.owner,
                limit=limit,
                lease_secs=self.mail.lease_secs,
                rate_per_hour=self.mail.rate_per_hour,
            )

    async def _idle(self, horizon: float) -> bool:
        # Not idle while anything queued is due, even under another worker's lease
        # (a dead worker's rows come back when the lease expires).
        if self._busy:
            return False
        async with self.db.session() as db:
            return not await outbox.next_due_within(db, utcnow(), horizon)

    async def _loop(self, stop: asyncio.Event, *, until_idle: bool, horizon: float) -> None:
        concurrency = self.mail.concurrency
        queue: asyncio.Queue[outbox.Claimed | None] = asyncio.Queue()
        slots = [asyncio.create_task(self._slot(queue)) for _ in range(concurrency)]
        self._recorder_stop = False
        recorder = asyncio.create_task(self._recorder())
        progress_done = asyncio.Event()
        progress = asyncio.create_task(self._progress_loop(progress_done))
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self.jobs.start_due()
                room = 2 * concurrency - queue.qsize()
                claimed = await self._claim(room) if room > 0 else []
                for item in claimed:
                    queue.put_nowait(item)
                if claimed or queue.qsize() >= concurrency:
                    # Keep about one batch ahead of the slots, no more: claimed
                    # rows wait under a lease, and a short queue keeps leases fresh.
                    while queue.qsize() >= concurrency and not stop.is_set():
                        self._slot_freed.clear()
                        await _first(self._slot_freed.wait(), stopping)
                    continue
                if until_idle and queue.empty() and await self._idle(horizon):
                    break
                self._slot_freed.clear()
                await _first(asyncio.sleep(self.mail.poll_secs), stopping, self._slot_freed.wait())
        finally:
            # Rows claimed but not started go back now, not after their lease.
            unstarted = []
            while not queue.empty():
                left = queue.get_nowait()
                if left is not None:
                    unstarted.append(left.id)
            if unstarted:
                async with self.db.session() as db:
                    await outbox.release(db, unstarted, self.owner)
            for _ in slots:
                queue.put_nowait(None)
            _, pending = await asyncio.wait(slots, timeout=STOP_GRACE_SECS)
            for t in pending:
                t.cancel()
            await asyncio.gather(*slots, return_exceptions=True)
            self._recorder_stop = True  # every slot is done: nothing more will be recorded
            self._pending_ready.set()
            await recorder
            stopping.cancel()
            progress_done.set()
            await asyncio.gather(stopping, progress, return_exceptions=True)
            await self.jobs.stop()
            await self.push_progress()
            if self._shared is not None:
                await self._shared.close()  # opened again if this worker runs again


async def _first(*aws: Awaitable[object]) -> None:
    """Wait until the first of ``aws`` finishes; cancel the others (not shared tasks)."""
    tasks = [a if isinstance(a, asyncio.Task) else asyncio.ensure_future(a) for a in aws]
    own = [t for t, a in zip(tasks, aws, strict=True) if not isinstance(a, asyncio.Task)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in own:
            t.cancel()
        await asyncio.gather(*own, return_exceptions=True)
