"""Locking an account closes its live connections on every process; Redis keeps nothing of them.

Two ``classhub serve`` processes share the database and Redis; the person is
connected to both. An admin acts through one process only.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.exceptions import InvalidStatus

from storage.models import Role
from tests.hub_support import SECRET, HubClient, ServerProcess, World, server_env
from tests.services import REDIS_URL, require_redis

pytestmark = pytest.mark.slow


def _csrf(cookie: str) -> str:
    from web.auth import csrf_token_for, unsign_token

    token = unsign_token(SECRET, cookie)
    assert token is not None
    return csrf_token_for(SECRET, token)


async def _closed(client: HubClient) -> int | None:
    await asyncio.wait_for(client.ws.wait_closed(), 10)
    return client.ws.close_code


async def _admin_post(
    port: int, admin_cookie: str, path: str, body: dict[str, Any]
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        return await c.post(
            path,
            json=body,
            headers={
                "Cookie": f"classhub_session={admin_cookie}",
                "X-CSRF-Token": _csrf(admin_cookie),
            },
        )


async def test_block_and_deletion_close_connections_on_two_processes(
    _postgres_url: str, tmp_path: Path
) -> None:
    """The scale-out set-up: PostgreSQL and Redis shared by two processes."""
    require_redis()
    db_url = _postgres_url
    prefix = f"classhub-test-{uuid.uuid4().hex[:8]}"
    servers = [
        ServerProcess(
            server_env(db_url, tmp_path / f"var{i}", REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix)
        )
        for i in (1, 2)
    ]
    world = World(db_url)
    clients: list[HubClient] = []
    try:
        for s in servers:
            s.start()
        await asyncio.gather(*(s.wait_ready() for s in servers))
        _admin, admin_cookie = await world.user("Admin", admin=True)
        blocked, blocked_cookie = await world.user("Blocky")
        leaver_name = f"Leaver {uuid.uuid4().hex[:6]}"
        leaver, leaver_cookie = await world.user(leaver_name)
        stay, stay_cookie = await world.user("Stay")
        ev = await world.event(
            (blocked, Role.PARTICIPANT), (leaver, Role.PARTICIPANT), (stay, Role.PARTICIPANT)
        )
        chat = f"event:{ev}:chat"

        b1 = await HubClient.connect(servers[0].port, blocked_cookie)
        b2 = await HubClient.connect(servers[1].port, blocked_cookie)
        l1 = await HubClient.connect(servers[0].port, leaver_cookie)
        l2 = await HubClient.connect(servers[1].port, leaver_cookie)
        watcher = await HubClient.connect(servers[1].port, stay_cookie)
        clients += [b1, b2, l1, l2, watcher]
        await watcher.subscribe(chat)
        secret = uuid.uuid4().hex
        ack = await l2.publish(chat, f"{secret} goodbye")
        assert ack["type"] == "ack"
        await watcher.wait_events(chat, 1)

        # Block through process 1: both connections close, on process 1 and on process 2.
        r = await _admin_post(
            servers[0].port, admin_cookie, f"/api/users/{blocked}/block", {"reason": "abuse"}
        )
        assert r.status_code == 200, r.text
        assert list(await asyncio.gather(_closed(b1), _closed(b2))) == [4401, 4401]
        with pytest.raises(
            InvalidStatus
        ) as refused:  # the blocked cookie no longer opens a connection
            await HubClient.connect(servers[1].port, blocked_cookie)
        assert refused.value.response.status_code == 403

        # Immediate deletion through process 2: both of the leaver's connections close,
        # the watcher hears that the message went, and stays connected.
        r = await _admin_post(
            servers[1].port,
            admin_cookie,
            f"/api/admin/users/{leaver}/terminate",
            {"reason": "asked to be forgotten", "immediately": True, "erase_content": True},
        )
        assert r.status_code == 200, r.text
        assert list(await asyncio.gather(_closed(l1), _closed(l2))) == [4401, 4401]
        events = await watcher.wait_events(chat, 2)
        assert events[-1]["type"] == "message.deleted" and events[-1]["ref"] == events[0]["id"]
        assert watcher.ws.close_code is None

        # Redis holds nothing of the deleted person (pub/sub is not stored; keys have no text).
        r_client = aioredis.from_url(REDIS_URL)
        try:
            async for key in r_client.scan_iter(match=f"{prefix}*"):
                blob = key + (await r_client.dump(key) or b"")
                for needle in (secret, leaver_name):
                    assert needle.encode() not in blob, key
        finally:
            await r_client.aclose()
    finally:
        for c in clients:
            await c.close()
        for s in servers:
            s.terminate()  # both shut down at once; stop() then waits
        for s in servers:
            s.stop()
        await world.close()
