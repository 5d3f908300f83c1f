"""An event change reaches connected clients on two server processes and the mailbox;
a client's `seen` frame shows up in "who has it".
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import EventChangeSeen, Role
from tests.hub_support import HubClient, ServerProcess, World, server_env
from tests.mail.conftest import SmtpServer, mail_settings, make_worker
from tests.services import REDIS_URL, require_redis


@pytest.mark.slow
async def test_event_change_reaches_clients_on_two_processes_and_the_mailbox(
    fresh_db_url: str, tmp_path: Path, smtp: SmtpServer
) -> None:
    require_redis()
    world = World(fresh_db_url)
    org, org_cookie = await world.user("Olga Organiser")
    p1, c1 = await world.user("Pia")
    p2, c2 = await world.user("Paul")
    event_id = await world.event(
        (org, Role.ORGANISER), (p1, Role.PARTICIPANT), (p2, Role.PARTICIPANT)
    )
    news = f"event:{event_id}:news"
    env = server_env(fresh_db_url, tmp_path / "var", REDIS_URL=REDIS_URL, MAIL_URL=smtp.url)
    servers = [ServerProcess(env), ServerProcess(env)]
    clients: list[HubClient] = []
    try:
        for s in servers:
            s.start()
        await asyncio.gather(*(s.wait_ready(timeout=90) for s in servers))
        a = await HubClient.connect(servers[0].port, c1)
        b = await HubClient.connect(servers[1].port, c2)
        clients = [a, b]
        for c in clients:
            assert (await c.subscribe(news))["channels"][0]["status"] == "ok"

        base = f"http://127.0.0.1:{servers[0].port}"
        cookies = {"classhub_session": org_cookie}
        async with httpx.AsyncClient(base_url=base, cookies=cookies) as http:
            csrf = (await http.get("/api/me")).json()["csrf_token"]
            r = await http.post(
                f"/api/events/{event_id}/changes",
                json={"location": "Room B", "note": "moved"},
                headers={"X-CSRF-Token": csrf, "Origin": "http://testserver"},
            )
            assert r.status_code == 201, r.text
            change = r.json()

        for c in clients:
            (ev,) = await c.wait_events(news, 1)
            assert ev["type"] == "event_changed" and ev["body"]["change_id"] == change["id"]
            assert ev["body"]["changes"]["location"][1] == "Room B"
        # Paul's client (on the second process) shows the banner and says so.
        await b.send({"type": "seen", "channel": news, "event_id": ev["id"]})

        db = Database(fresh_db_url)
        try:
            deadline = time.monotonic() + 10
            while True:
                async with db.session() as session:
                    seen = (
                        await session.execute(
                            select(EventChangeSeen).where(EventChangeSeen.change_id == change["id"])
                        )
                    ).scalars().all()
                if seen or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert [(x.user_id, x.via) for x in seen] == [(p2, "ws")]

            settings = mail_settings(fresh_db_url, tmp_path / "w", smtp.url)

            class Svc:
                pass

            svc = Svc()
            svc.db = db  # type: ignore[attr-defined]
            await (await make_worker(settings, svc)).run_until_idle()
        finally:
            await db.close()
        assert len(smtp.handler.by_rcpt()) == 3
    finally:
        for c in clients:
            await c.close()
        for s in servers:
            s.stop()
        await world.close()
