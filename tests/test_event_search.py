"""Admins find every event (by title and time, paged); nobody else can (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from storage.models import Enrolment, Event, Role, UserStatus
from storage.models.base import utcnow
from tests.conftest import login, make_user

URL = "/api/admin/events"


async def seed(services: Any, tag: str, admin_id: int, people: list[int]) -> dict[str, int]:
    """A past, a current and two future events whose titles hold ``tag``."""
    now = utcnow()
    hour = dt.timedelta(hours=1)
    spans = {
        "past": (now - 5 * hour, now - 4 * hour),
        "current": (now - hour, now + hour),
        "soon": (now + 24 * hour, now + 26 * hour),
        "later": (now + 48 * hour, now + 50 * hour),
    }
    ids: dict[str, int] = {}
    async with services.db.session() as db:
        for key, (start, end) in spans.items():
            event = Event(title=f"{tag} {key} Workshop", starts_at=start, ends_at=end)
            db.add(event)
            await db.flush()
            ids[key] = event.id
        for uid in people:
            db.add(Enrolment(user_id=uid, event_id=ids["current"], role=Role.PARTICIPANT.value))
        db.add(Enrolment(user_id=admin_id, event_id=ids["soon"], role=Role.ORGANISER.value))
    return ids


async def test_admin_finds_every_event_by_title_and_time(
    client: httpx.AsyncClient, services: Any
) -> None:
    admin = await make_user(services, admin=True)
    people = [await make_user(services) for _ in range(3)]
    tag = f"Tag{uuid.uuid4().hex[:8]}"
    ids = await seed(services, tag, admin.id, [p.id for p in people])
    async with services.db.session() as db:  # a deleted account is not counted as enrolled
        gone = await db.get(type(people[0]), people[0].id)
        gone.status = UserStatus.DELETED.value
    await login(client, admin.email)

    r = await client.get(URL, params={"q": tag.lower()})  # any case
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 4
    # Not past: soonest first (the past one sorts by its start among them).
    order = [ids[k] for k in ("past", "current", "soon", "later")]
    assert [e["id"] for e in page["items"]] == order
    by_id = {e["id"]: e for e in page["items"]}
    assert by_id[ids["current"]]["enrolled"] == 2 and by_id[ids["current"]]["my_role"] is None
    assert by_id[ids["soon"]]["my_role"] == "organiser" and by_id[ids["soon"]]["enrolled"] == 1

    async def found(**params: Any) -> list[int]:
        r = await client.get(URL, params={"q": tag, **params})
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["items"]]

    assert await found(when="past") == [ids["past"]]
    assert await found(when="current") == [ids["current"]]
    assert await found(when="future") == [ids["soon"], ids["later"]]
    assert await found(q=f"{tag} LATER") == [ids["later"]]
    # Paging: two pages of two, the total on each.
    first = (await client.get(URL, params={"q": tag, "limit": 2})).json()
    second = (await client.get(URL, params={"q": tag, "limit": 2, "offset": 2})).json()
    assert first["total"] == second["total"] == 4
    assert [e["id"] for e in first["items"] + second["items"]] == order
    # A title search is a substring, not a pattern: % and _ match only themselves.
    assert await found(q="%") == [] and await found(q="_") == []
    for bad in ({"when": "someday"}, {"limit": 0}, {"offset": -1}, {"q": ""}, {"x": "1"}):
        assert (await client.get(URL, params=bad)).status_code == 422, bad


async def test_only_admins_search_events(client: httpx.AsyncClient, services: Any) -> None:
    admin = await make_user(services, admin=True)
    organiser, trainer = await make_user(services), await make_user(services)
    tag = f"Tag{uuid.uuid4().hex[:8]}"
    ids = await seed(services, tag, admin.id, [])
    async with services.db.session() as db:
        db.add(Enrolment(user_id=organiser.id, event_id=ids["later"], role=Role.ORGANISER.value))
        db.add(Enrolment(user_id=trainer.id, event_id=ids["past"], role=Role.TRAINER.value))
    for who, own in ((organiser, "later"), (trainer, "past")):
        await login(client, who.email)
        r = await client.get(URL, params={"q": tag})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        # Their own events, with their role, are what GET /api/events lists.
        mine = (await client.get("/api/events")).json()["events"]
        assert [e["id"] for e in mine] == [ids[own]]
    client.cookies.clear()
    assert (await client.get(URL)).status_code == 401
