"""Per-user limits on HTTP writes and on WebSocket subscribe frames (issue 13 item 10).

One participant had posted 150 notes in 1.2 s and nothing limited subscribe
frames. Every write of a signed-in user (POST/PUT/PATCH/DELETE, sign-out
excepted) now takes a token from the user's WRITE_RATE / WRITE_BURST bucket,
every subscribe frame one from SUBSCRIBE_RATE / SUBSCRIBE_BURST; with Redis on
every process together.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.models import Role
from tests.conftest import login, make_settings, make_user
from tests.hub_support import SECRET, HubClient, ServerProcess, Stack, World, server_env
from tests.services import REDIS_URL, require_postgres, require_redis

PREFS = "/api/me/mail-preferences"


async def _app_client(settings: Any) -> tuple[Any, Any]:
    from web.app import create_app

    app = create_app(settings)
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    return app, ctx


async def test_http_writes_are_limited_per_user(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "var", WRITE_RATE="0.5", WRITE_BURST="5")
    app, ctx = await _app_client(settings)
    try:
        services = app.state.services
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as flood, \
                httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            await login(flood, (await make_user(services)).email)
            await login(other, (await make_user(services)).email)
            answers = [
                await flood.put(PREFS, json={"wants_information_mail": i % 2 == 0})
                for i in range(8)
            ]
            assert [r.status_code for r in answers] == [200] * 5 + [429] * 3
            refused = answers[-1]
            assert refused.json()["error"]["code"] == "rate_limited"
            assert 1 <= int(refused.headers["Retry-After"]) <= 2
            assert 0 < refused.json()["error"]["details"]["retry_after"] <= 2
            # Reading is not limited, nor is anyone else, nor signing out.
            assert (await flood.get("/api/me")).status_code == 200
            assert (
                await other.put(PREFS, json={"wants_information_mail": True})
            ).status_code == 200
            # After Retry-After the user may write again.
            await asyncio.sleep(int(refused.headers["Retry-After"]))
            assert (
                await flood.put(PREFS, json={"wants_information_mail": True})
            ).status_code == 200
            assert (
                await flood.put(PREFS, json={"wants_information_mail": True})
            ).status_code == 429
            assert (await flood.post("/api/logout")).status_code == 200
    finally:
        await ctx.__aexit__(None, None, None)


async def test_the_default_limits_let_a_quick_human_through(db_url: str, tmp_path: Path) -> None:
    """A trainer moderating quickly (30 actions at once, then about two a second) and a
    class posting all at once are never refused with the defaults (WRITE_BURST 30,
    WRITE_RATE 3/s); a script's flood is (150 in a row)."""
    settings = make_settings(db_url, tmp_path / "var")
    assert (settings.write_rate, settings.write_burst) == (3.0, 30)
    app, ctx = await _app_client(settings)
    try:
        services = app.state.services
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as trainer:
            await login(trainer, (await make_user(services)).email)
            for _ in range(30):
                assert (
                    await trainer.put(PREFS, json={"wants_information_mail": True})
                ).status_code == 200
            for _ in range(6):
                await asyncio.sleep(0.5)
                assert (
                    await trainer.put(PREFS, json={"wants_information_mail": False})
                ).status_code == 200
        # A class of 20, each posting three times at once.
        clients = [
            httpx.AsyncClient(transport=transport, base_url="http://testserver") for _ in range(20)
        ]
        try:
            for c in clients:
                await login(c, (await make_user(services)).email)
            answers = await asyncio.gather(
                *(
                    c.put(PREFS, json={"wants_information_mail": True})
                    for c in clients
                    for _ in range(3)
                )
            )
            assert {r.status_code for r in answers} == {200}
            flood = clients[0]
            answers = [
                await flood.put(PREFS, json={"wants_information_mail": True}) for _ in range(150)
            ]
            assert sum(r.status_code == 429 for r in answers) >= 110
        finally:
            for c in clients:
                await c.aclose()
    finally:
        await ctx.__aexit__(None, None, None)


def _csrf(cookie: str) -> str:
    from web.auth import csrf_token_for, unsign_token

    token = unsign_token(SECRET, cookie)
    assert token is not None
    return csrf_token_for(SECRET, token)


@pytest.mark.slow
async def test_http_write_limit_holds_across_processes(tmp_path: Path) -> None:
    """With Redis the user's writes through two processes share one bucket."""
    require_postgres()
    require_redis()
    from tests.services import create_pg_database, drop_pg_database, pg_url

    name = await create_pg_database()
    db_url = pg_url(name)
    from storage.migrate import upgrade

    await asyncio.to_thread(upgrade, db_url)
    prefix = f"classhub-test-{uuid.uuid4().hex[:8]}"
    procs = [
        ServerProcess(
            server_env(
                db_url,
                tmp_path / f"var{i}",
                REDIS_URL=REDIS_URL,
                REDIS_PREFIX=prefix,
                WRITE_RATE="0.2",
                WRITE_BURST="6",
            )
        )
        for i in (1, 2)
    ]
    world = World(db_url)
    try:
        for p in procs:
            p.start()
        await asyncio.gather(*(p.wait_ready() for p in procs))
        _, cookie = await world.user("Flood")
        headers = {"Cookie": f"classhub_session={cookie}", "X-CSRF-Token": _csrf(cookie)}
        codes = []
        for i in range(10):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{procs[i % 2].port}") as c:
                codes.append(
                    (
                        await c.put(PREFS, json={"wants_information_mail": True}, headers=headers)
                    ).status_code
                )
        # Each process alone would have let 6 through (12 in all).
        assert codes == [200] * 6 + [429] * 4, codes
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.stop()
        await world.close()
        await drop_pg_database(name)


@pytest.mark.slow
async def test_subscribe_frames_are_limited_per_user(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path / "var", SUBSCRIBE_RATE="0.5", SUBSCRIBE_BURST="3") as st:
        ada, ada_cookie = await st.world.user("Ada")
        bob, bob_cookie = await st.world.user("Bob")
        ev = await st.world.event((ada, Role.PARTICIPANT), (bob, Role.PARTICIPANT))
        chat = f"event:{ev}:chat"
        a1 = await HubClient.connect(st.port, ada_cookie)
        a2 = await HubClient.connect(st.port, ada_cookie, proto="msgpack")
        b = await HubClient.connect(st.port, bob_cookie)
        try:
            assert (await a1.subscribe(chat, rid="s1"))["type"] == "subscribed"
            assert (await a2.subscribe(chat, rid="s2"))["type"] == "subscribed"
            assert (await a1.subscribe(chat, rid="s3"))["type"] == "subscribed"
            # The fourth of the user's frames, on either connection, is refused with an error
            # naming the request; the connection stays open.
            refused = await a2.subscribe(chat, rid="s4")
            assert refused["type"] == "error" and refused["code"] == "rate_limited", refused
            assert refused["id"] == "s4" and 0 < refused["retry_after"] <= 2.0
            for _ in range(20):
                assert (await a1.subscribe(chat, rid="x"))["code"] == "rate_limited"
            # Unsubscribing is never refused; other users are not affected.
            await a1.send({"type": "unsubscribe", "id": "u1", "channels": [chat]})
            assert (await a1.recv_type("unsubscribed"))["id"] == "u1"
            assert (await b.subscribe(chat, rid="b1"))["type"] == "subscribed"
            # Once a token is back, subscribing works again, and the connection is live.
            await asyncio.sleep(refused["retry_after"] + 0.05)
            again = await a1.subscribe(chat, rid="s5")
            assert again["type"] == "subscribed", again
            ack = await b.publish(chat, "still here")
            assert ack["type"] == "ack"
            assert (await a1.wait_events(chat, 1))[-1]["body"]["text"] == "still here"
            assert a1.ws.close_code is None and a2.ws.close_code is None
        finally:
            for c in (a1, a2, b):
                await c.close()


def test_the_limits_are_configured_from_the_environment(tmp_path: Path) -> None:
    s = make_settings("sqlite+aiosqlite:///x.db", tmp_path, WRITE_RATE="1.5", WRITE_BURST="7",
                      SUBSCRIBE_RATE="2", SUBSCRIBE_BURST="9")
    assert (s.write_rate, s.write_burst, s.subscribe_rate, s.subscribe_burst) == (1.5, 7, 2.0, 9)
    from storage.errors import ConfigError

    with pytest.raises(ConfigError):
        make_settings("sqlite+aiosqlite:///x.db", tmp_path, WRITE_BURST="0")
