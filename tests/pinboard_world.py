"""A small classroom for pinboard tests: one event, two participants, a trainer, others.

Events and enrolments are made with the ORM directly until the organiser API
exists (as in tests/test_authz.py). Each person gets their own signed-in
httpx client over ASGI.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from storage.models import (
    AuditEntry,
    Enrolment,
    Event,
    GroupMember,
    LearningGroup,
    Role,
    utcnow,
)
from storage.repo.accounts import create_session, create_user
from storage.repo.channel_log import StoredEvent, read_since
from tests.conftest import unique_email
from web.auth import COOKIE_NAME, csrf_token_for, sign_token


@dataclass
class World:
    app: Any
    services: Any
    event_id: int
    group_id: int
    users: dict[str, Any]
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def __getitem__(self, who: str) -> httpx.AsyncClient:
        return self.clients[who]

    async def log(self, channel: str, since: int = 0) -> list[StoredEvent]:
        async with self.services.db.session() as db:
            return await read_since(db, channel, since, 10_000)

    async def board(self, who: str = "tr") -> dict[str, Any]:
        r = await self.clients[who].get(f"/api/pinboard/events/{self.event_id}/board")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


ROLES = {"p1": Role.PARTICIPANT, "p2": Role.PARTICIPANT, "tr": Role.TRAINER, "org": Role.ORGANISER}


@pytest.fixture
async def world(app: Any, services: Any) -> AsyncIterator[World]:
    names = {"p1": "Pia", "p2": "Paul", "tr": "Tina Trainer", "org": "Olga",
             "out": "Otto Outsider", "adm": "Ada Admin"}
    users: dict[str, Any] = {}
    tokens: dict[str, str] = {}
    async with services.db.session() as db:
        # Password-less accounts with a server-side session each: the same cookie and
        # CSRF header a sign-in gives, without six Argon2 hashes per test.
        for who, name in names.items():
            users[who] = await create_user(
                db, email=unique_email(who), display_name=name, is_admin=who == "adm"
            )
            tokens[who] = await create_session(db, users[who], max_secs=3600)
    async with services.db.session() as db:
        now = utcnow()
        ev = Event(title="Workshop", starts_at=now, ends_at=now + dt.timedelta(hours=3))
        db.add(ev)
        await db.flush()
        for who, role in ROLES.items():
            db.add(Enrolment(user_id=users[who].id, event_id=ev.id, role=role.value))
        grp = LearningGroup(event_id=ev.id, name="Group A")
        db.add(grp)
        await db.flush()
        db.add(GroupMember(group_id=grp.id, user_id=users["p1"].id))
        event_id, group_id = ev.id, grp.id
    w = World(app, services, event_id, group_id, users)
    async with AsyncExitStack() as stack:
        for who in users:
            c = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
            )
            secret = services.settings.secret_key
            c.cookies.set(COOKIE_NAME, sign_token(secret, tokens[who]))
            c.headers["X-CSRF-Token"] = csrf_token_for(secret, tokens[who])
            w.clients[who] = c
        yield w


def texts(events: list[Any]) -> str:
    """The bodies of ``events`` as one JSON string, to look for a text in."""
    return json.dumps([e.body for e in events])


async def post_note(
    w: World, who: str, text: str, *, release: bool = True, **extra: Any
) -> dict[str, Any]:
    """``who`` writes a note on the event's board (released unless told otherwise)."""
    board = await w.board(who)
    r = await w[who].post(
        f"/api/pinboard/boards/{board['board']['id']}/notes",
        json={"text": text, "release": release, **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def audit_rows(w: World, action: str, target: str) -> list[AuditEntry]:
    """The audit log's rows of ``action`` on ``target``."""
    async with w.services.db.session() as db:
        rows = await db.execute(
            select(AuditEntry).where(AuditEntry.action == action, AuditEntry.target == target)
        )
        return list(rows.scalars())
