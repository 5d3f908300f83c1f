"""Mail test fixtures: a fresh database per test (workers claim everything due, so
tests must not see each other's outbox), a real aiosmtpd server on a free port
whose answers a test scripts, and events with enrolments made through the ORM.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from storage.migrate import upgrade
from storage.settings import Settings
from tests.conftest import make_settings, unique_email
from tests.services import create_pg_database, drop_pg_database, free_port, pg_url, require_postgres


@pytest.fixture
def fresh_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'mail.db'}"
        upgrade(url)
        yield url
        return
    require_postgres()
    name = asyncio.run(create_pg_database())
    url = pg_url(name)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(drop_pg_database(name))


@dataclass
class Received:
    at: float  # time.monotonic() when DATA completed
    rcpt: str
    message: Message


def parts_of(msg: Message) -> list[Message]:
    """The parts of a multipart message (``get_payload()`` is typed for every kind)."""
    parts = msg.get_payload()
    assert isinstance(parts, list), type(parts)
    out: list[Message] = []
    for part in parts:
        assert isinstance(part, Message), type(part)
        out.append(part)
    return out


def text_of(part: Message) -> str:
    """A one-part message's body, transfer-decoded (``get_payload(decode=True)``), as text."""
    raw = part.get_payload(decode=True)
    assert isinstance(raw, bytes), type(raw)
    return raw.decode()


@dataclass
class Recorder:
    """An aiosmtpd handler: records what it accepted; ``answer`` decides each DATA."""

    received: list[Received] = field(default_factory=list)
    attempts: list[tuple[float, str, str]] = field(default_factory=list)  # (at, rcpt, answer)
    answer: Callable[[str, int], str] = lambda rcpt, n: "250 OK"
    reject_rcpt: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.reject_rcpt:
            with self.lock:
                self.attempts.append((time.monotonic(), address, "550 rcpt"))
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpt = envelope.rcpt_tos[0]
        with self.lock:
            n = sum(1 for _, r, _ in self.attempts if r == rcpt)
            answer = self.answer(rcpt, n)
            self.attempts.append((time.monotonic(), rcpt, answer))
            if answer.startswith("250"):
                self.received.append(
                    Received(
                        time.monotonic(),
                        rcpt,
                        message_from_bytes(envelope.content, policy=email.policy.default),
                    )
                )
        return answer

    def by_rcpt(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        with self.lock:
            for r in self.received:
                out.setdefault(r.rcpt, []).append(r)
        return out

    def count(self) -> int:
        with self.lock:
            return len(self.received)


@dataclass
class SmtpServer:
    port: int
    handler: Recorder

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, handler)
    finally:
        controller.stop()


FAST_MAIL = {
    "MAIL_RATE_PER_SEC": "1000",
    "MAIL_RATE_PER_HOUR": "0",
    "MAIL_CONCURRENCY": "4",
    "MAIL_RETRY_BASE_SECS": "0.01",
    "MAIL_RETRY_CAP_SECS": "0.05",
    "MAIL_POLL_SECS": "0.05",
    "MAIL_LEASE_SECS": "30",
    "MAIL_FROM": "Classhub <noreply@classhub.test>",
}


def mail_settings(db_url: str, var_dir: Path, mail_url: str | None = None, **env: str) -> Settings:
    values = dict(FAST_MAIL)
    if mail_url is not None:
        values["MAIL_URL"] = mail_url
    values.update(env)
    return make_settings(db_url, var_dir, **values)


@dataclass
class Env:
    settings: Settings
    app: Any
    services: Any
    client: httpx.AsyncClient


@pytest.fixture
async def env(fresh_db_url: str, tmp_path: Path, smtp: SmtpServer) -> AsyncIterator[Env]:
    """The app on a fresh database, mailing to the test's SMTP server."""
    from web.app import create_app

    settings = mail_settings(fresh_db_url, tmp_path / "var", smtp.url)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield Env(settings, app, app.state.services, client)


async def make_people(services: Any, n: int, prefix: str = "p") -> list[Any]:
    from storage.models import User

    async with services.db.session() as db:
        users = [
            User(email=unique_email(f"{prefix}{i}"), display_name=f"{prefix} {i}") for i in range(n)
        ]
        db.add_all(users)
        await db.flush()
        return users


async def make_event(
    services: Any,
    members: dict[str, list[Any]],
    *,
    title: str = "Python basics",
    starts_in_days: float = 7,
) -> int:
    """An event with enrolments: members maps role -> users."""
    from storage.models import Enrolment, Event, utcnow

    start = utcnow() + dt.timedelta(days=starts_in_days)
    async with services.db.session() as db:
        event = Event(
            title=title, starts_at=start, ends_at=start + dt.timedelta(hours=3), location="Room A"
        )
        db.add(event)
        await db.flush()
        for role, users in members.items():
            for u in users:
                db.add(Enrolment(user_id=u.id, event_id=event.id, role=role))
        return int(event.id)


async def make_worker(settings: Settings, services: Any, **kw: Any) -> Any:
    from realtime.mailer.jobs import JobContext, JobRunner
    from realtime.mailer.worker import MailWorker

    kw.setdefault("jobs", JobRunner(JobContext(settings, services.db), {}))
    kw.setdefault("progress_secs", 0.2)
    return MailWorker(settings, services.db, **kw)


async def statuses(services: Any, campaign_id: int) -> list[tuple[int | None, str, int, str]]:
    from sqlalchemy import select

    from storage.models import MailDelivery

    async with services.db.session() as db:
        rows = await db.execute(
            select(
                MailDelivery.user_id,
                MailDelivery.status,
                MailDelivery.attempts,
                MailDelivery.last_error,
            )
            .where(MailDelivery.campaign_id == campaign_id)
            .order_by(MailDelivery.user_id)
        )
        return [tuple(r) for r in rows]


async def sign_in(env: Env, user: Any, client: httpx.AsyncClient | None = None) -> None:
    """Give a user made by make_people a password and sign the client in as them."""
    from storage.models import User
    from storage.passwords import hash_password
    from tests.conftest import PASSWORD, login

    async with env.services.db.session() as db:
        row = await db.get(User, user.id)
        assert row is not None
        row.password_hash = hash_password(PASSWORD)
    client = client or env.client
    client.cookies.clear()
    await login(client, user.email)
