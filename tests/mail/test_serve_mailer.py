"""`classhub serve --mailer`: one process on the embedded default sends its own mail
(what `scripts/demo.sh` runs, so a newcomer's cancellation reaches ./var/mail)."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path

import httpx

from storage.models import Role
from tests.hub_support import ORIGIN, ServerProcess, World, server_env


async def test_serve_with_mailer_delivers_an_event_change_into_the_maildir(tmp_path: Path) -> None:
    var = tmp_path / "var"
    db_url = f"sqlite+aiosqlite:///{var}/classhub.db"
    server = ServerProcess(server_env(db_url, var), "--mailer")
    server.start()
    world = World(db_url)
    try:
        await server.wait_ready()  # serve migrates the embedded database itself
        org, cookie = await world.user("Olga")
        part, _ = await world.user("Pia")
        event_id = await world.event((org, Role.ORGANISER), (part, Role.PARTICIPANT))
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, cookies={"classhub_session": cookie}) as http:
            csrf = (await http.get("/api/me")).json()["csrf_token"]
            r = await http.post(
                f"/api/events/{event_id}/changes",
                json={"cancel": True, "note": "the trainer is ill"},
                headers={"X-CSRF-Token": csrf, "Origin": ORIGIN},
            )
            assert r.status_code == 201, r.text
        # No `classhub mailer` runs: the server's own worker must deliver both.
        maildir = var / "mail"

        def delivered() -> int:
            try:
                return len(list(mailbox.Maildir(maildir, create=False)))
            except (mailbox.NoSuchMailboxError, FileNotFoundError):  # not there, or half made
                return 0

        for _ in range(200):
            if delivered() >= 2:
                break
            await asyncio.sleep(0.1)
        msgs = list(mailbox.Maildir(maildir, create=False))
        assert len(msgs) == 2
        assert all("cancelled" in m["Subject"] for m in msgs)
    finally:
        server.stop()
        await world.close()
