"""Webhooks against a real receiving HTTP server on 127.0.0.1.

A note released produces one signed delivery (Standard Webhooks, checked here with
an HMAC of our own); a direct message is told without its text; a receiver that
keeps failing is retried up to WEBHOOK_MAX_ATTEMPTS with the same webhook-id, the
delivery then shows ``failed`` to admins, and a replay delivers it. An account
deleted is told with its external id. Claims are leased: two workers never take
the same row.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.db import Database
from storage.models import Role, User
from storage.repo import notify_outbox
from storage.repo.lifecycle import delete_now
from storage.webhooks import backoff_secs, sign, verify
from tests.hub_support import SECRET, HubClient, Stack
from tests.server_api_support import Hit, Receiver, api
from web.auth import csrf_token_for, unsign_token

FAST = {"WEBHOOK_POLL_SECS": "0.05", "WEBHOOK_RETRY_SECS": "0.05", "WEBHOOK_MAX_ATTEMPTS": "3"}


def http(port: int, cookie: str) -> httpx.AsyncClient:
    token = unsign_token(SECRET, cookie)
    assert token is not None
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", cookies={"classhub_session": cookie},
        headers={"X-CSRF-Token": csrf_token_for(SECRET, token)}, timeout=10,
    )


def check_signature(hit: Hit, secret: str) -> dict[str, Any]:
    """Verify like a receiver would, without classhub's code: HMAC-SHA256 of id.ts.body."""
    msg_id, stamp = hit.headers["webhook-id"], hit.headers["webhook-timestamp"]
    assert abs(int(stamp) - time.time()) < 300
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + hit.body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    assert hmac.compare_digest(hit.headers["webhook-signature"], expected)
    assert hit.headers["content-type"] == "application/json"
    payload: dict[str, Any] = json.loads(hit.body)
    return payload


def test_signature_matches_the_standard_webhooks_example() -> None:
    # The example of the Standard Webhooks specification (standard-webhooks/spec).
    secret, msg_id = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek"
    stamp = 1614265330
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(secret, msg_id, stamp, body) == expected
    assert verify(secret, msg_id, stamp, body, f"v1,bm90IGl0 {expected}")
    assert not verify(secret, msg_id, stamp, body + b" ", expected)
    assert [backoff_secs(n, 10, 60) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


async def _subscribe(admin: httpx.AsyncClient, url: str, *topics: str) -> tuple[int, str]:
    key = await admin.post("/api/admin/api-keys", json={"name": f"hooks-{time.time_ns()}",
                                                         "scopes": ["publish"]})
    assert key.status_code == 201, key.text
    sub = await admin.post(f"/api/admin/api-keys/{key.json()['id']}/webhooks",
                           json={"url": url, "topics": list(topics)})
    assert sub.status_code == 201, sub.text
    assert sub.json()["secret"].startswith("whsec_")
    return sub.json()["id"], sub.json()["secret"]


async def test_a_released_note_and_messages_are_signed_webhooks(
    db_url: str, tmp_path: Path
) -> None:
    async with Receiver() as rx, Stack(db_url, tmp_path / "var", **FAST) as stack:
        _, admin_cookie = await stack.world.user("Ada", admin=True)
        pia, pia_cookie = await stack.world.user("Pia")
        tom, tom_cookie = await stack.world.user("Tom")
        ev = await stack.world.event((pia, Role.PARTICIPANT), (tom, Role.TRAINER))
        admin, hp = http(stack.port, admin_cookie), http(stack.port, pia_cookie)
        sub_id, secret = await _subscribe(
            admin, rx.url, "note.released", "message.posted", "moderation.decision"
        )

        board = (await hp.get(f"/api/pinboard/events/{ev}/board")).json()["board"]
        draft = (await hp.post(f"/api/pinboard/boards/{board['id']}/notes",
                               json={"text": "my finding"})).json()
        assert (await hp.post(f"/api/pinboard/notes/{draft['id']}/release")).status_code == 200
        (hit,) = await rx.wait(1)
        payload = check_signature(hit, secret)
        assert payload["type"] == "note.released"
        data = payload["data"]
        assert data["channel"] == f"event:{ev}:board" and data["classhub_event_id"] == ev
        assert data["body"]["note"]["text"] == "my finding" and data["author_id"] == pia

        ws = await HubClient.connect(stack.port, pia_cookie)
        dm = f"dm:{min(pia, tom)}:{max(pia, tom)}"
        assert (await ws.publish(dm, "a secret between us"))["type"] == "ack"
        assert (await ws.publish(f"event:{ev}:chat", "hello class"))["type"] == "ack"
        hits = await rx.wait(2, type="message.posted")
        told = {check_signature(h, secret)["data"]["channel"]: h for h in hits}
        assert b"a secret between us" not in told[dm].body
        assert "body" not in json.loads(told[dm].body)["data"]
        assert json.loads(told[f"event:{ev}:chat"].body)["data"]["body"] == {"text": "hello class"}
        ids = {h.headers["webhook-id"] for h in rx.hits}
        assert len(ids) == 3  # one delivery each, nothing twice

        # A moderation decision: the author's notice; the trainer's DM to the author is told
        # without its text.
        ht = http(stack.port, tom_cookie)
        r = await ht.post(f"/api/pinboard/notes/{draft['id']}/offline", json={"reason": "dupe"})
        assert r.status_code == 200, r.text
        (decision,) = await rx.wait(1, type="moderation.decision")
        data = check_signature(decision, secret)["data"]
        assert data["channel"] == f"user:{pia}" and data["type"] == "note.taken_offline"
        hits = await rx.wait(3, type="message.posted")
        assert all("body" not in json.loads(h.body)["data"] for h in hits
                   if json.loads(h.body)["data"]["channel"].startswith("dm:"))

        page = (await admin.get(f"/api/admin/webhooks/{sub_id}/deliveries")).json()
        assert len(page["items"]) == 5
        await ht.aclose()
        await ws.close()
        await admin.aclose()
        await hp.aclose()


async def test_a_failing_receiver_is_retried_then_replayed(db_url: str, tmp_path: Path) -> None:
    async with Receiver(fail=10**6) as rx, Stack(db_url, tmp_path / "var", **FAST) as stack:
        _, admin_cookie = await stack.world.user("Ada", admin=True)
        pia, _ = await stack.world.user("Pia")
        ev = await stack.world.event((pia, Role.PARTICIPANT))
        admin = http(stack.port, admin_cookie)
        sub_id, secret = await _subscribe(admin, rx.url, "message.posted")
        keys = (await admin.get("/api/admin/api-keys")).json()
        sub = next(s for s in keys["subscriptions"] if s["id"] == sub_id)
        made = await admin.post("/api/admin/api-keys", json={"name": f"pub-{time.time_ns()}",
                                                              "scopes": ["publish"]})
        async with api(stack.port, made.json()["token"]) as suite:
            r = await suite.post("/api/server/publish", json={
                "channel": f"event:{ev}:chat", "body": {"text": "ping"}, "idempotency_key": "p"})
            assert r.status_code == 200, r.text

        hits = await rx.wait(3)
        assert {h.headers["webhook-id"] for h in hits} == {hits[0].headers["webhook-id"]}
        for h in hits:
            check_signature(h, secret)

        async def failed() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = (await admin.get(
                f"/api/admin/webhooks/{sub_id}/deliveries", params={"status": "failed"}
            )).json()["items"]
            return items

        deadline = time.monotonic() + 20
        while not (gone := await failed()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(gone) == 1 and gone[0]["attempts"] == 3 and gone[0]["last_status_code"] == 500
        assert len(rx.hits) == 3  # no fourth attempt on its own
        keys = (await admin.get("/api/admin/api-keys")).json()
        assert next(s for s in keys["subscriptions"] if s["id"] == sub_id)["deliveries"] == {
            "failed": 1}

        rx.fail = 0
        r = await admin.post(f"/api/admin/webhooks/{sub_id}/replay", json={})
        assert r.json() == {"replayed": 1}
        hits = await rx.wait(4)
        assert hits[3].status == 204 and hits[3].headers["webhook-id"] == hits[0].headers[
            "webhook-id"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            items = (await admin.get(f"/api/admin/webhooks/{sub_id}/deliveries")).json()["items"]
            if items[0]["status"] == "delivered":
                break
            await asyncio.sleep(0.05)
        assert items[0]["status"] == "delivered"
        assert (await admin.post(f"/api/admin/webhooks/{sub_id}/replay", json={})).json() == {
            "replayed": 0}
        del sub
        await admin.aclose()


async def test_an_account_deleted_is_told_with_its_external_id(
    db_url: str, tmp_path: Path
) -> None:
    async with Receiver() as rx, Stack(db_url, tmp_path / "var", **FAST) as stack:
        _, admin_cookie = await stack.world.user("Ada", admin=True)
        gone, _ = await stack.world.user("Gone")
        admin = http(stack.port, admin_cookie)
        _, secret = await _subscribe(admin, rx.url, "account.deleted")
        async with stack.world.db.session() as db:
            user = await db.get(User, gone)
            assert user is not None
            user.external_id = f"sis-{gone}"
        async with stack.world.db.session() as db:
            user = await db.get(User, gone)
            assert user is not None
            await delete_now(db, user, erase_content=False)
        (hit,) = await rx.wait(1)
        assert check_signature(hit, secret)["data"] == {"user_id": gone,
                                                        "external_id": f"sis-{gone}"}
        async with stack.world.db.session() as db:
            assert (await db.get(User, gone)).external_id is None  # type: ignore[union-attr]
        await admin.aclose()


async def test_an_event_changed_is_told(db_url: str, tmp_path: Path) -> None:
    async with Receiver() as rx, Stack(db_url, tmp_path / "var", **FAST) as stack:
        _, admin_cookie = await stack.world.user("Ada", admin=True)
        olga, olga_cookie = await stack.world.user("Olga")
        ev = await stack.world.event((olga, Role.ORGANISER))
        admin, ho = http(stack.port, admin_cookie), http(stack.port, olga_cookie)
        _, secret = await _subscribe(admin, rx.url, "event.changed")
        async with stack.world.db.session() as db:
            from storage.models import Event

            event = await db.get(Event, ev)
            assert event is not None
            event.external_id = f"course-{ev}"
        r = await ho.post(f"/api/events/{ev}/changes", json={"location": "Room 9"})
        assert r.status_code == 201, r.text
        (hit,) = await rx.wait(1)
        payload = check_signature(hit, secret)
        assert payload["type"] == "event.changed"
        data = payload["data"]
        assert data["channel"] == f"event:{ev}:news" and data["type"] == "event_changed"
        assert data["external_event_id"] == f"course-{ev}"
        assert "Room 9" in json.dumps(data["body"]["changes"])
        await admin.aclose()
        await ho.aclose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_two_workers_never_claim_the_same_delivery(db_url: str) -> None:
    from storage.repo import api_keys, webhooks

    db = Database(db_url)
    try:
        async with db.session() as s:
            key, _ = await api_keys.create_key(
                s, name=f"lease-{time.time_ns()}", scopes=["read"], created_by=None
            )
            sub, _ = await webhooks.create_subscription(
                s, key=key, url="http://127.0.0.1:9/x", topics=["account.deleted"]
            )
            for i in range(5):
                await notify_outbox.enqueue_payload(s, "account.deleted", {"n": i})
        async with db.session() as s:
            a = await notify_outbox.claim(s, owner="a", limit=3, lease_secs=60)
        async with db.session() as s:
            b = await notify_outbox.claim(s, owner="b", limit=100, lease_secs=60)
        assert len(a) <= 3
        assert not {c.id for c in a} & {c.id for c in b}
        assert len({c.id for c in a + b if c.subscription_id == sub.id}) == 5
        async with db.session() as s:
            c = await notify_outbox.claim(s, owner="c", limit=100, lease_secs=60)
        assert not [x for x in c if x.subscription_id == sub.id]  # leased: nobody else's
        async with db.session() as s:
            await webhooks.end_subscription(s, await webhooks.get_subscription(s, sub.id))
    finally:
        await db.close()
