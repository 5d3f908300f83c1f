"""Measure a bulk-mail campaign end to end: N recipients through a local aiosmtpd server.

Seeds a fresh database (an organiser, an event, N enrolled participants), queues
one campaign through the same code the HTTP API uses, runs ``classhub mailer
--until-idle`` as a separate process, and shows the live progress the sender's
``user:<id>`` channel receives. Prints the figures at the end (docs/mail.md).

    /work/venv/bin/python scripts/mail_bench.py --recipients 5000 --rate 100 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.db import Database
from storage.migrate import upgrade
from storage.models import (
    ChannelEvent,
    Enrolment,
    Event,
    MailCategory,
    MailDelivery,
    Role,
    User,
    utcnow,
)
from storage.repo import outbox
from storage.repo.audience import AudienceKind, AudienceSpec, resolve


class Counter:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.ids: set[str] = set()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mid = ""
        for line in envelope.content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                mid = line.split(b":", 1)[1].strip().decode()
                break
        with self.lock:
            self.times.append(time.monotonic())
            self.ids.add(mid)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed(db: Database, n: int) -> tuple[int, int]:
    import datetime as dt

    async with db.session() as s:
        org = User(email=f"org-{uuid.uuid4().hex[:8]}@example.org", display_name="Organiser")
        start = utcnow() + dt.timedelta(days=7)
        event = Event(title="Bench", starts_at=start, ends_at=start + dt.timedelta(hours=2))
        s.add_all([org, event])
        await s.flush()
        tag = uuid.uuid4().hex[:6]
        await s.execute(
            insert(User),
            [{"email": f"p{i}-{tag}@example.org", "display_name": f"P {i}"} for i in range(n)],
        )
        ids = (
            (await s.execute(select(User.id).where(User.email.like(f"%-{tag}@example.org"))))
            .scalars()
            .all()
        )
        rows = [{"user_id": uid, "event_id": event.id, "role": "participant"} for uid in ids]
        rows.append({"user_id": org.id, "event_id": event.id, "role": "organiser"})
        await s.execute(insert(Enrolment), rows)
        return int(org.id), int(event.id)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipients", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=100.0, help="MAIL_RATE_PER_SEC")
    ap.add_argument("--concurrency", type=int, default=8, help="MAIL_CONCURRENCY")
    ap.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mail-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    org_id, event_id = await seed(db, args.recipients)
    async with db.session() as s:
        org = await s.get(User, org_id)
        if org is None:
            raise RuntimeError("the seeded organiser vanished")
        aud = await resolve(
            s, org, AudienceSpec(AudienceKind.EVENT, event_id, roles=(Role.PARTICIPANT,))
        )
        t0 = time.monotonic()
        campaign = await outbox.create_campaign(
            s, sender_id=org_id, kind="bulk", category=MailCategory.INFORMATION,
            subject="Bench", body_text="Hello " * 50, body_html=None,
            audience={"kind": "event", "event_id": event_id}, event_ids=aud.event_ids,
            recipients=aud.recipients,
        )
    enqueue_secs = time.monotonic() - t0

    handler = Counter()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MAIL_URL": f"smtp://127.0.0.1:{port}",
        "CLASSHUB_VAR_DIR": str(tmp / "var"),
        "SECRET_KEY": "bench-secret-" + "x" * 32,
        "DATA_KEY": "bench-data-" + "y" * 32,
        "MAIL_RATE_PER_SEC": str(args.rate),
        "MAIL_RATE_PER_HOUR": "0",
        "MAIL_CONCURRENCY": str(args.concurrency),
        "MAIL_POLL_SECS": "0.2",
    }
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", "mailer", "--until-idle", "--log-level", "warning",
        cwd=ROOT, env=env,
    )
    progress_events = 0
    last_seq = 0
    with Progress(
        TextColumn("campaign {task.fields[cid]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task("send", total=args.recipients, cid=campaign.id)
        while True:
            done = proc.returncode is not None
            async with db.session() as s:  # what the sender's user:<id> channel received
                rows = (
                    await s.execute(
                        select(ChannelEvent).where(
                            ChannelEvent.channel == f"user:{org_id}", ChannelEvent.seq > last_seq
                        ).order_by(ChannelEvent.seq)
                    )
                ).scalars().all()
            for r in rows:
                progress_events += 1
                last_seq = r.seq
                b = r.body
                bar.update(task, completed=b["sent"] + b["failed"] + b["bounced"] + b["suppressed"])
            if done:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.5)
    wall = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = usage.ru_utime + usage.ru_stime
    controller.stop()
    async with db.session() as s:
        statuses = dict(
            (
                await s.execute(
                    select(MailDelivery.status, MailDelivery.id).where(
                        MailDelivery.campaign_id == campaign.id
                    )
                )
            ).all()
        )
        counts = (await outbox.counts(s, [campaign.id]))[campaign.id]
    del statuses
    await db.close()
    times = sorted(handler.times)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    window_max, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        window_max = max(window_max, i - j + 1)
    print(f"recipients          {args.recipients}")
    print(
        f"configured          MAIL_RATE_PER_SEC={args.rate:g} MAIL_CONCURRENCY={args.concurrency}"
    )
    print(f"database            {url.split('://')[0]}")
    print(f"enqueue (1 tx)      {enqueue_secs:.2f} s")
    print(f"received by SMTP    {len(times)} messages, {len(handler.ids)} distinct Message-IDs")
    print(
        f"first..last         {span:.1f} s  -> {((len(times) - 1) / span if span else 0):.1f} msg/s"
    )
    print(f"busiest 1 s window  {window_max} messages (limit {args.rate:g})")
    print(f"worker wall time    {wall:.1f} s (process start to exit)")
    print(
        f"mailer CPU          {worker_cpu:.1f} s user+sys = "
        f"{1000 * worker_cpu / max(1, len(times)):.1f} ms per message"
    )
    loadavg = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average        {loadavg} on {os.cpu_count()} CPUs")
    print(f"progress events     {progress_events} on user:{org_id}")
    print(f"final statuses      {counts}")
    return 0 if counts["sent"] == args.recipients and len(handler.ids) == args.recipients else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
