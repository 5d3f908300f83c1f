"""Self-service password changes end live connections on every process.

Two ``classhub serve`` processes share PostgreSQL and Redis; the person is connected to
both from two sessions. Changing the password through one session closes the other
session's sockets on both processes and keeps this one's; a reset through a mailed link
closes every socket of the account on both.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from storage.models import Role
from storage.repo.accounts import create_session, create_user
from tests.hub_support import SECRET, HubClient, ServerProcess, World, server_env
from tests.password_support import wait_for_reset_links_in
from tests.services import REDIS_URL, require_redis

pytestmark = pytest.mark.slow

PASSWORD = "lighthouse pebbles under snow"
NEW_PASSWORD = "velvet comets in the attic"
RESET_PASSWORD = "nine ferries crossing slowly"


def _csrf(cookie: str) -> str:
    from web.auth import csrf_token_for, unsign_token

    token = unsign_token(SECRET, cookie)
    assert token is not None
    return csrf_token_for(SECRET, token)


async def _closed(client: HubClient) -> int | None:
    await asyncio.wait_for(client.ws.wait_closed(), 10)
    return client.ws.close_code


async def _person(world: World) -> tuple[int, str, list[str]]:
    """A person with a password and two sessions (their cookie values)."""
    from web.auth import sign_token

    email = f"p-{uuid.uuid4().hex[:10]}@example.org"
    async with world.db.session() as db:
        user = await create_user(db, email=email, display_name="Pat", password=PASSWORD)
        tokens = [await create_session(db, user, max_secs=3600) for _ in range(2)]
    return user.id, email, [sign_token(SECRET, t) for t in tokens]


async def test_change_and_reset_close_sockets_on_two_processes(
    _postgres_url: str, tmp_path: Path
) -> None:
    require_redis()
    prefix = f"classhub-test-{uuid.uuid4().hex[:8]}"
    servers = [
        ServerProcess(
            server_env(
                _postgres_url, tmp_path / f"var{i}", REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix
            )
        )
        for i in (1, 2)
    ]
    world = World(_postgres_url)
    clients: list[HubClient] = []
    try:
        for s in servers:
            s.start()
        await asyncio.gather(*(s.wait_ready() for s in servers))
        user_id, email, (here, there) = await _person(world)
        await world.event((user_id, Role.PARTICIPANT))
        here_socks = [await HubClient.connect(s.port, here) for s in servers]
        there_socks = [await HubClient.connect(s.port, there) for s in servers]
        clients += here_socks + there_socks

        # Change through process 1 with the session "here": "there" ends on both.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{servers[0].port}") as c:
            r = await c.post(
                "/api/me/password",
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                headers={"Cookie": f"classhub_session={here}", "X-CSRF-Token": _csrf(here)},
            )
        assert r.status_code == 200, r.text
        assert r.json()["sessions_ended"] == 1
        assert list(await asyncio.gather(*(_closed(c) for c in there_socks))) == [4401, 4401]
        assert [c.ws.close_code for c in here_socks] == [None, None]
        # "here" still works on the other process.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{servers[1].port}") as c:
            r = await c.get("/api/me", headers={"Cookie": f"classhub_session={here}"})
            assert r.status_code == 200

        # Forgot password through process 2, reset through process 1: every socket closes.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{servers[1].port}") as c:
            r = await c.post("/api/password/forgot", json={"email": email})
            assert r.status_code == 202
        [token] = await wait_for_reset_links_in(world.db, email)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{servers[0].port}") as c:
            r = await c.post(
                "/api/password/reset", json={"token": token, "password": RESET_PASSWORD}
            )
            assert r.status_code == 200 and r.json()["sessions_ended"] == 1, r.text
        assert list(await asyncio.gather(*(_closed(c) for c in here_socks))) == [4401, 4401]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{servers[1].port}") as c:
            r = await c.get("/api/me", headers={"Cookie": f"classhub_session={here}"})
            assert r.status_code == 401
            r = await c.post("/api/login", json={"email": email, "password": RESET_PASSWORD})
            assert r.status_code == 200
    finally:
        for client in clients:
            await client.close()
        for s in servers:
            s.terminate()
        for s in servers:
            s.stop()
        await world.close()
