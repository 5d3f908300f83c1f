"""Sign-out and session revocation close that session's WebSockets at once, on every process.

They used to stay open until the hub's periodic revalidation (up to 60 s; 26.5 s
measured) and kept receiving events, direct messages included. The same user's
other sessions stay connected.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.models import Role
from storage.repo.accounts import create_session
from tests.cli_helpers import classhub
from tests.hub_support import SECRET, HubClient, ServerProcess, World, server_env
from tests.services import REDIS_URL, require_postgres, require_redis

pytestmark = pytest.mark.slow

# Far below the periodic revalidation (REVALIDATE_SECS, 60 s): only the prompt path passes.
PROMPT_SECS = 5.0


def _csrf(cookie: str) -> str:
    from web.auth import csrf_token_for, unsign_token

    token = unsign_token(SECRET, cookie)
    assert token is not None
    return csrf_token_for(SECRET, token)


async def _second_session(world: World, user_id: int) -> str:
    from storage.models import User
    from web.auth import sign_token

    async with world.db.session() as db:
        user = await db.get(User, user_id)
        assert user is not None
        return sign_token(SECRET, await create_session(db, user, max_secs=3600))


async def _post(
    port: int, cookie: str, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        return await c.post(
            path, json=body or {},
            headers={"Cookie": f"classhub_session={cookie}", "X-CSRF-Token": _csrf(cookie)},
        )


async def _closed_within(client: HubClient, secs: float) -> int | None:
    try:
        await asyncio.wait_for(client.ws.wait_closed(), secs)
    except TimeoutError:
        return None
    return client.ws.close_code


async def _still_open(client: HubClient) -> bool:
    await client.send({"type": "ping", "id": "alive"})
    frame = await client.recv_type("pong", 5)
    return frame.get("id") == "alive" and client.ws.close_code is None


@pytest.fixture(params=["embedded", "two-processes"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "embedded":
        return request.param, f"sqlite+aiosqlite:///{tmp_path / 'classhub.db'}"
    require_postgres()
    require_redis()
    return request.param, str(request.getfixturevalue("_postgres_url"))


@pytest.fixture
async def servers(
    deployment: tuple[str, str], tmp_path: Path
) -> AsyncIterator[tuple[list[ServerProcess], World]]:
    """The embedded default (SQLite, no Redis, one process) or PostgreSQL + Redis with two."""
    kind, db_url = deployment
    if kind == "embedded":
        procs = [ServerProcess(server_env(db_url, tmp_path / "var"))]
    else:
        prefix = f"classhub-test-{uuid.uuid4().hex[:8]}"
        procs = [
            ServerProcess(
                server_env(db_url, tmp_path / f"var{i}", REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix)
            )
            for i in (1, 2)
        ]
    try:
        for p in procs:
            p.start()
        await asyncio.gather(*(p.wait_ready() for p in procs))
        world = World(db_url)  # after the first start: the embedded server migrates its database
        try:
            yield procs, world
        finally:
            await world.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.stop()


async def test_sign_out_closes_that_sessions_sockets_at_once(
    servers: tuple[list[ServerProcess], World],
) -> None:
    procs, world = servers
    first, last = procs[0], procs[-1]
    ada, ada_cookie = await world.user("Ada")
    ada_other = await _second_session(world, ada)
    bob, bob_cookie = await world.user("Bob")
    await world.event((ada, Role.PARTICIPANT), (bob, Role.PARTICIPANT))
    dm = f"dm:{min(ada, bob)}:{max(ada, bob)}"

    here = await HubClient.connect(first.port, ada_cookie)
    there = await HubClient.connect(last.port, ada_cookie)
    other = await HubClient.connect(last.port, ada_other)
    sender = await HubClient.connect(first.port, bob_cookie)
    clients = [here, there, other, sender]
    try:
        for c in (here, there, other):
            answer = await c.subscribe(dm)
            assert answer["channels"][0]["status"] == "ok", answer

        started = time.monotonic()
        r = await _post(first.port, ada_cookie, "/api/logout")
        assert r.status_code == 200, r.text
        codes = list(
            await asyncio.gather(
                _closed_within(here, PROMPT_SECS), _closed_within(there, PROMPT_SECS)
            )
        )
        took = time.monotonic() - started
        assert codes == [4401, 4401], f"signed-out sockets still open after {took:.1f} s: {codes}"
        assert here.ws.close_reason and "session" in here.ws.close_reason

        # The other session of the same person is untouched and still gets her messages.
        assert await _still_open(other)
        ack = await sender.publish(dm, "for Ada's other session")
        assert ack["type"] == "ack", ack
        events = await other.wait_events(dm, 1)
        assert events[0]["body"]["text"] == "for Ada's other session"
    finally:
        for c in clients:
            await c.close()


# Only with Redis: the CLI reaches running servers through it (the embedded default's
# periodic revalidation is covered by test_hub_ws_rights).
@pytest.mark.parametrize("deployment", ["two-processes"], indirect=True)
async def test_a_revocation_from_the_cli_closes_every_session_of_the_account_at_once(
    servers: tuple[list[ServerProcess], World], tmp_path: Path
) -> None:
    """A revocation without a sign-out, made outside the servers: ``classhub user
    reset-password`` ends all of the account's sessions, and (through Redis) their sockets
    on every process. (Without Redis the CLI cannot reach the server: the periodic
    revalidation closes them.)"""
    procs, world = servers
    from storage.models import User

    ada, ada_cookie = await world.user("Ada")
    ada_other = await _second_session(world, ada)
    _bob, bob_cookie = await world.user("Bob")
    async with world.db.session() as db:
        found = await db.get(User, ada)
        assert found is not None and found.email is not None
        email = found.email

    clients = [
        await HubClient.connect(procs[0].port, ada_cookie),
        await HubClient.connect(procs[1].port, ada_other),
    ]
    bystander = await HubClient.connect(procs[1].port, bob_cookie)
    try:
        done = await asyncio.to_thread(
            classhub, "user", "reset-password", email, "--password-stdin",
            var_dir=tmp_path / "cli", stdin=f"Zq{uuid.uuid4().hex}!\n", env=procs[0].env,
        )
        assert done.returncode == 0, done.stderr
        codes = await asyncio.gather(*(_closed_within(c, PROMPT_SECS) for c in clients))
        assert codes == [4401, 4401]
        assert await _still_open(bystander)
    finally:
        for c in [*clients, bystander]:
            await c.close()
