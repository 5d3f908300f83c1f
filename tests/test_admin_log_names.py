"""The admin's audit and activity log pages name the people in them (issue 18 item 10):
each row keeps the stored id and adds the person's current display name, on both backends."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from storage.repo.logs import audit, log_activity
from tests.conftest import login, make_user


async def test_log_pages_name_their_people(client: httpx.AsyncClient, services: Any) -> None:
    admin = await make_user(services, admin=True, name="Astrid Admin")
    pia = await make_user(services, name="Pia Participant")
    tag = uuid.uuid4().hex[:8]
    async with services.db.session() as db:
        await audit(db, actor_id=pia.id, action="test.named", target=tag)
        await audit(db, actor_id=None, action="test.system", target=tag)
        await log_activity(db, user_id=pia.id, action="test.named", target=tag)
        await log_activity(db, user_id=None, action="test.nobody", target=tag)
    await login(client, admin.email)

    r = await client.get("/api/admin/audit", params={"target": tag})
    assert r.status_code == 200, r.text
    rows = {i["action"]: i for i in r.json()["items"]}
    assert rows["test.named"]["actor_id"] == pia.id
    assert rows["test.named"]["actor_name"] == "Pia Participant"
    assert rows["test.system"]["actor_id"] is None and rows["test.system"]["actor_name"] is None

    r = await client.get("/api/admin/activity", params={"target": tag})
    assert r.status_code == 200, r.text
    rows = {i["action"]: i for i in r.json()["items"]}
    assert rows["test.named"]["user_id"] == pia.id
    assert rows["test.named"]["user_name"] == "Pia Participant"
    assert rows["test.nobody"]["user_name"] is None

    # The reader's own audit row is named too.
    r = await client.get("/api/admin/audit", params={"actor_id": admin.id, "limit": 1})
    assert r.json()["items"][0]["actor_name"] == "Astrid Admin"
