"""The server API against a real server: keys and scopes, publish, history and presence.

A key is refused without the scope an operation needs, and refused altogether once
revoked; every call is in the activity log with the key's name; calls are limited
per key. A publish reaches a WebSocket subscriber like a WebSocket publish, answered
with its sequence number, and an idempotency key makes a retry change nothing.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from storage.models import ActivityEntry, Role
from tests.hub_support import SECRET, HubClient, Stack
from tests.server_api_support import api, bearer, make_key
from web.auth import csrf_token_for, unsign_token


def admin_http(port: int, cookie: str) -> httpx.AsyncClient:
    token = unsign_token(SECRET, cookie)
    assert token is not None
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", cookies={"classhub_session": cookie},
        headers={"X-CSRF-Token": csrf_token_for(SECRET, token)}, timeout=10,
    )


async def test_scopes_revocation_and_the_activity_log(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path / "var") as stack:
        _, admin_cookie = await stack.world.user("Ada", admin=True)
        uid, _ = await stack.world.user("Pia")
        ev = await stack.world.event((uid, Role.PARTICIPANT))
        admin = admin_http(stack.port, admin_cookie)
        made = await admin.post("/api/admin/api-keys",
                                json={"name": "reader-1", "scopes": ["read"]})
        assert made.status_code == 201, made.text
        token, key_id = made.json()["token"], made.json()["id"]
        listed = (await admin.get("/api/admin/api-keys")).json()["keys"]
        assert token not in str(listed)  # shown once
        assert [k["name"] for k in listed if k["id"] == key_id] == ["reader-1"]

        async with api(stack.port) as anonymous:
            r = await anonymous.get("/api/server/history", params={"channel": f"event:{ev}:chat"})
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
            r = await anonymous.get("/api/server/history", params={"channel": f"event:{ev}:chat"},
                                    headers=bearer("chk_not-a-key"))
            assert r.status_code == 401
        async with api(stack.port, token) as reader:
            r = await reader.get("/api/server/history", params={"channel": f"event:{ev}:chat"})
            assert r.status_code == 200, r.text
            r = await reader.post("/api/server/publish", json={
                "channel": f"event:{ev}:chat", "body": {"text": "hi"}, "idempotency_key": "a"})
            assert r.status_code == 403 and "publish" in r.json()["error"]["message"]
            r = await reader.post("/api/server/provision", json={})
            assert r.status_code == 403
            # A session cookie is no key: the server API answers only to Bearer keys.
            r = await admin.get("/api/server/history", params={"channel": f"event:{ev}:chat"})
            assert r.status_code == 401

            assert (await admin.post(f"/api/admin/api-keys/{key_id}/revoke")).status_code == 200
            r = await reader.get("/api/server/history", params={"channel": f"event:{ev}:chat"})
            assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
        async with stack.server.app.state.services.db.session() as db:
            lines = (
                await db.execute(
                    select(ActivityEntry.action, ActivityEntry.target)
                    .where(ActivityEntry.target.like("key=reader-1 %"))
                    .order_by(ActivityEntry.id)
                )
            ).all()
        assert [t.split(" -> ")[1] for _, t in lines] == ["200", "403", "403"]
        assert {a for a, _ in lines} == {"api_key.call"}
        keys = (await admin.get("/api/admin/api-keys")).json()["keys"]
        mine = next(k for k in keys if k["id"] == key_id)
        assert mine["revoked_at"] is not None and mine["last_used_at"] is not None
        await admin.aclose()


async def test_calls_are_limited_per_key(db_url: str, tmp_path: Path) -> None:
    env = {"API_KEY_RATE": "0.01", "API_KEY_BURST": "3"}
    async with Stack(db_url, tmp_path / "var", **env) as stack:
        first = await make_key(db_url, "busy-1", "read")
        second = await make_key(db_url, "calm-1", "read")
        params = {"channel": "event:1:chat"}
        async with api(stack.port, first) as busy, api(stack.port, second) as calm:
            codes = [(await busy.get("/api/server/history", params=params)).status_code
                     for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            refused = await busy.get("/api/server/history", params=params)
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            # Another key has its own bucket.
            assert (await calm.get("/api/server/history", params=params)).status_code == 200


async def test_publish_reaches_a_websocket_subscriber_once(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path / "var") as stack:
        pia, pia_cookie = await stack.world.user("Pia")
        tom, _ = await stack.world.user("Tom")
        outsider, _ = await stack.world.user("Otto")
        ev = await stack.world.event((pia, Role.PARTICIPANT), (tom, Role.TRAINER))
        chat = f"event:{ev}:chat"
        token = await make_key(db_url, "suite-pub", "publish", "read")
        ws = await HubClient.connect(stack.port, pia_cookie)
        assert (await ws.subscribe(chat))["channels"][0]["status"] == "ok"
        async with api(stack.port, token) as suite:
            msg = {"channel": chat, "body": {"text": "Slides are online"},
                   "idempotency_key": "slides-1"}
            first = await suite.post("/api/server/publish", json=msg)
            assert first.status_code == 200, first.text
            assert first.json()["duplicate"] is False
            again = await suite.post("/api/server/publish", json=msg)
            assert again.json() == {**first.json(), "duplicate": True}
            got = await ws.wait_events(chat, 1)
            assert got[0]["seq"] == first.json()["seq"] and got[0]["id"] == first.json()["event_id"]
            assert got[0]["body"] == {"text": "Slides are online"} and got[0]["author"] is None

            as_tom = {"channel": chat, "body": {"text": "Welcome"}, "idempotency_key": "w-1",
                      "as_user_id": tom}
            r = await suite.post("/api/server/publish", json=as_tom)
            assert r.status_code == 200 and r.json()["seq"] == first.json()["seq"] + 1
            r2 = await suite.post("/api/server/publish", json=as_tom)
            assert r2.json()["duplicate"] is True and r2.json()["seq"] == r.json()["seq"]
            got = await ws.wait_events(chat, 2)
            assert got[1]["author"]["id"] == tom and got[1]["body"]["text"] == "Welcome"

            r = await suite.post("/api/server/publish", json={**as_tom, "as_user_id": outsider,
                                                              "idempotency_key": "x"})
            assert r.status_code == 403
            dm = f"dm:{min(pia, tom)}:{max(pia, tom)}"
            for channel in (dm, f"user:{pia}"):
                r = await suite.post("/api/server/publish", json={**msg, "channel": channel})
                assert r.status_code == 422
                r = await suite.get("/api/server/history", params={"channel": channel})
                assert r.status_code == 422
            r = await suite.post("/api/server/publish", json={**msg, "body": {"n": 2**70}})
            assert r.status_code == 422
        # Nothing else reached the subscriber: one event per publish, the retries none.
        await ws.publish(chat, "a reader's own post")
        got = await ws.wait_events(chat, 3)
        assert [e["body"]["text"] for e in got] == [
            "Slides are online", "Welcome", "a reader's own post"]
        await ws.close()


async def test_history_and_presence_are_paged(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path / "var") as stack:
        people = [await stack.world.user(f"P{i}") for i in range(3)]
        ev = await stack.world.event(*((uid, Role.PARTICIPANT) for uid, _ in people))
        chat = f"event:{ev}:chat"
        token = await make_key(db_url, "suite-read", "publish", "read")
        clients = [await HubClient.connect(stack.port, cookie) for _, cookie in people]
        for c in clients:
            await c.subscribe(chat)
        async with api(stack.port, token) as suite:
            for i in range(5):
                r = await suite.post("/api/server/publish", json={
                    "channel": chat, "body": {"text": f"m{i}"}, "idempotency_key": f"m{i}"})
                assert r.status_code == 200
            seen: list[str] = []
            before: int | None = None
            while True:
                params: dict[str, str | int] = {"channel": chat, "limit": 2}
                if before is not None:
                    params["before_id"] = before
                page = (await suite.get("/api/server/history", params=params)).json()
                seen += [e["body"]["text"] for e in page["items"]]
                before = page["next_before"]
                if before is None:
                    break
            assert seen == ["m4", "m3", "m2", "m1", "m0"]

            ids = sorted(uid for uid, _ in people)
            first = (await suite.get("/api/server/presence",
                                     params={"event_id": ev, "limit": 2})).json()
            assert [p["id"] for p in first["present"]] == ids[:2]
            rest = (await suite.get("/api/server/presence", params={
                "event_id": ev, "limit": 2, "after_user_id": first["next_after"]})).json()
            assert [p["id"] for p in rest["present"]] == ids[2:] and rest["next_after"] is None
            r = await suite.get("/api/server/presence", params={"event_id": 10**12})
            assert r.status_code == 404
        for c in clients:
            await c.close()


def test_the_apikey_command(tmp_path: Path) -> None:
    """create prints the key once; list never shows it; revoke refuses it; bad input is one
    line and exit status 1."""
    import asyncio

    from storage.db import Database
    from storage.repo.api_keys import authenticate
    from tests.cli_helpers import classhub

    made = classhub("apikey", "create", "lms", "--scopes", "provision,read", var_dir=tmp_path)
    assert made.returncode == 0, made.stderr
    token = made.stdout.split()[-1]
    assert token.startswith("chk_")
    listed = classhub("apikey", "list", var_dir=tmp_path)
    assert "lms" in listed.stdout and "provision,read" in listed.stdout
    assert token not in listed.stdout and "active" in listed.stdout
    assert classhub("apikey", "create", "lms", "--scopes", "read", var_dir=tmp_path).returncode == 1
    bad = classhub("apikey", "create", "x", "--scopes", "admin", var_dir=tmp_path)
    assert bad.returncode == 1 and "scopes must be some of" in bad.stdout

    async def live() -> bool:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'classhub.db'}")
        try:
            async with db.session() as s:
                return await authenticate(s, token) is not None
        finally:
            await db.close()

    assert asyncio.run(live())
    assert classhub("apikey", "revoke", "lms", var_dir=tmp_path).returncode == 0
    assert not asyncio.run(live())
    assert "revoked" in classhub("apikey", "list", var_dir=tmp_path).stdout
