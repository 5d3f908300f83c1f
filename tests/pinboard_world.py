"""A small classroom for pinboard tests: one event, two participants, a trainer, others.

Events and enrolments are made with the ORM directly until the organiser API
exists (as in tests/test_authz.py). Each person gets their own signed-in
httpx client over ASGI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from storage.models import Enrolment, Event, GroupMember, LearningGroup, Role, utcnow
from storage.repo.channel_log import StoredEvent, read_since
from tests.conftest import login, make_user


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
    users = {
        "p1": await make_user(services, name="Pia"),
        "p2": await make_user(services, name="Paul"),
        "tr": await make_user(services, name="Tina Trainer"),
        "org": await make_user(services, name="Olga"),
        "out": await make_user(services, name="Otto Outsider"),
        "adm": await make_user(services, admin=True, name="Ada Admin"),
    }
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
        for who, user in users.items():
            c = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
            )
            await login(c, user.email)
            w.clients[who] = c
        yield w
