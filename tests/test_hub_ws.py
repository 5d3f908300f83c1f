"""The hub over real WebSockets (uvicorn in the test's loop, websockets client)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from storage.models import Role
from tests.hub_support import ORIGIN, HubClient, Stack, eventually, seqs

FAST = {"PUBLISH_RATE": "10000", "PUBLISH_BURST": "10000"}


async def test_recovery_across_reconnect(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path, **FAST) as st:
        a, ca = await st.world.user("Ada")
        b, cb = await st.world.user("Bob")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))}:chat"
        pub = await HubClient.connect(st.port, ca)
        reader = await HubClient.connect(st.port, cb, proto="msgpack")
        await reader.subscribe(ch)
        for i in range(3):
            assert (await pub.publish(ch, f"m{i}"))["seq"] == i + 1
        assert seqs(await reader.wait_events(ch, 3)) == [1, 2, 3]
        await reader.close()
        for i in range(3, 6):
            await pub.publish(ch, f"m{i}")
        again = await HubClient.connect(st.port, cb, proto="msgpack")
        ans = await again.subscribe((ch, 3))
        assert ans["channels"] == [{"channel": ch, "status": "recovered", "seq": 6}]
        assert seqs(await again.wait_events(ch, 3)) == [4, 5, 6]
        assert [e["body"]["text"] for e in again.events[ch]] == ["m3", "m4", "m5"]
        await pub.publish(ch, "live")
        assert seqs(await again.wait_events(ch, 4)) == [4, 5, 6, 7]
        # Nothing missed: an empty replay is still "recovered".
        third = await HubClient.connect(st.port, cb)
        assert (await third.subscribe((ch, 7)))["channels"][0]["status"] == "recovered"
        for c in (pub, again, third):
            await c.close()


async def test_replay_live_boundary_under_concurrent_publishing(
    db_url: str, tmp_path: Path
) -> None:
    total = 150
    async with Stack(db_url, tmp_path, **FAST) as st:
        users = [await st.world.user(f"P{i}") for i in range(4)]
        ch = f"event:{await st.world.event(*[(u, Role.PARTICIPANT) for u, _ in users])}:chat"
        pubs = [await HubClient.connect(st.port, c) for _, c in users[:3]]

        acked = [0]

        async def publish_all(client: HubClient, n: int) -> None:
            for i in range(n):
                ack = await client.publish(ch, f"x{i}")
                assert ack["type"] == "ack"
                acked[0] = max(acked[0], ack["seq"])

        tasks = [asyncio.create_task(publish_all(p, total // 3)) for p in pubs]
        # Subscribers join at random moments with various `since`; each must see a gapless,
        # duplicate-free sequence from since+1 to the end.
        readers = []
        for k in range(6):
            await asyncio.sleep(0.05)
            r = await HubClient.connect(st.port, users[3][1], proto="msgpack" if k % 2 else "json")
            since = acked[0] - k  # committed already, so never "ahead" of the channel
            ans = await r.subscribe((ch, max(0, since)))
            readers.append((r, max(0, since), ans["channels"][0]))
        await asyncio.gather(*tasks)
        for r, since, answer in readers:
            assert answer["status"] == "recovered", answer
            got = seqs(await r.wait_events(ch, total - since))
            assert got == list(range(since + 1, total + 1))
            await r.close()
        for p in pubs:
            await p.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_reload_answer_beyond_the_replay_limit(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path, REPLAY_LIMIT="5", **FAST) as st:
        a, ca = await st.world.user("Ada")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT))}:chat"
        c = await HubClient.connect(st.port, ca)
        for i in range(10):
            await c.publish(ch, str(i))
        ans = await c.subscribe((ch, 2), rid="old")
        assert ans["channels"] == [{"channel": ch, "status": "reload", "seq": 10}]
        ans = await c.subscribe((ch, 99), rid="future")
        assert ans["channels"][0]["status"] == "reload"
        ans = await c.subscribe((ch, 5), rid="edge")  # exactly the limit: replayed, not reloaded
        assert ans["channels"][0]["status"] == "recovered"
        assert seqs(await c.wait_events(ch, 5)) == [6, 7, 8, 9, 10]
        await c.publish(ch, "live")
        assert seqs(await c.wait_events(ch, 6))[-1] == 11
        await c.close()


async def test_idempotent_retry_gets_the_same_ack(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path, **FAST) as st:
        a, ca = await st.world.user("Ada")
        b, cb = await st.world.user("Bob")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))}:chat"
        reader = await HubClient.connect(st.port, cb)
        await reader.subscribe(ch)
        c = await HubClient.connect(st.port, ca)
        first = await c.publish(ch, "once", cid="retry-1")
        again = await c.publish(ch, "once", cid="retry-1")
        assert first == again and first["seq"] == 1
        await c.close()
        c2 = await HubClient.connect(st.port, ca, proto="msgpack")  # after a reconnect too
        assert await c2.publish(ch, "once", cid="retry-1") == first
        await c2.publish(ch, "next")
        assert [e["body"]["text"] for e in await reader.wait_events(ch, 2)] == ["once", "next"]
        assert st.hub.stats.publishes.get("duplicate") == 2
        await c2.close()
        await reader.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_unauthorized_subscribe_and_publish_refused(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        o, co = await st.world.user("Outsider")
        ev = await st.world.event((a, Role.PARTICIPANT))
        out = await HubClient.connect(st.port, co)
        ans = await out.subscribe(
            f"event:{ev}:chat", f"user:{a}", f"user:{o}", "nonsense", f"dm:{a}:{o}"
        )
        assert [(x["status"], x.get("code")) for x in ans["channels"]] == [
            ("denied", "forbidden"), ("denied", "forbidden"), ("ok", None),
            ("denied", "bad_channel"), ("denied", "forbidden") if a > o else ("ok", None),
        ]
        r = await out.publish(f"event:{ev}:chat", "let me in")
        assert r["type"] == "error" and r["code"] == "forbidden"
        member = await HubClient.connect(st.port, ca)
        r = await member.publish(f"event:{ev}:news", "I am no organiser")
        assert r["code"] == "forbidden"
        r = await member.publish(f"user:{a}", "server only")
        assert r["code"] == "forbidden"
        r = await member.publish("no:such", "x")
        assert r["code"] == "bad_channel"
        # Refusals leave the connections open.
        await member.send({"type": "ping", "id": "p1"})
        assert (await member.recv_type("pong"))["id"] == "p1"
        await out.close()
        await member.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_foreign_origin_and_missing_credentials_refused_before_accept(
    db_url: str, tmp_path: Path
) -> None:
    async with Stack(db_url, tmp_path) as st:
        _a, ca = await st.world.user("Ada")
        for origin, cookie in (("https://evil.example", ca), ("http://testserver.evil.example", ca),
                               (None, ca), (ORIGIN, None), (ORIGIN, "forged.cookie")):
            with pytest.raises(InvalidStatus) as err:
                await HubClient.connect(st.port, cookie, origin=origin)
            assert err.value.response.status_code == 403
        with pytest.raises(InvalidStatus):  # no subprotocol we speak
            from websockets.asyncio.client import connect

            await connect(
                f"ws://127.0.0.1:{st.port}/ws",
                additional_headers={"Origin": ORIGIN, "Cookie": f"classhub_session={ca}"},
            )
        assert (
            not st.hub.clients.conns and st.hub.stats.subscriptions == 0 and not st.hub.fanout.feeds
        )


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_single_use_token_for_non_browser_clients(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{st.port}", cookies={"classhub_session": ca}
        ) as http:
            me = await http.get("/api/me")
            assert me.status_code == 200, me.text
            r = await http.post("/api/ws-token", headers={"X-CSRF-Token": me.json()["csrf_token"]})
            assert r.status_code == 200 and r.json()["expires_in"] == 60
            token = r.json()["token"]
        c = await HubClient.connect(st.port, None, origin=None, token=token)
        assert c.hello is not None and c.hello["user"]["id"] == a
        with pytest.raises(InvalidStatus):  # used once already
            await HubClient.connect(st.port, None, origin=None, token=token)
        with pytest.raises(InvalidStatus):
            await HubClient.connect(st.port, None, origin=None, token=token[:-2] + "xx")
        await c.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_flood_control_and_connection_cap(db_url: str, tmp_path: Path) -> None:
    async with Stack(
        db_url, tmp_path, PUBLISH_RATE="1", PUBLISH_BURST="3", MAX_CONNECTIONS_PER_USER="2"
    ) as st:
        a, ca = await st.world.user("Ada")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT))}:chat"
        c = await HubClient.connect(st.port, ca)
        answers = [await c.publish(ch, str(i)) for i in range(5)]
        assert [x["type"] for x in answers] == ["ack", "ack", "ack", "error", "error"]
        assert answers[3]["code"] == "rate_limited" and 0 < answers[3]["retry_after"] <= 1.0
        second = await HubClient.connect(st.port, ca)
        with pytest.raises(ConnectionClosed) as err:  # accepted, then closed at once
            await HubClient.connect(st.port, ca)
        assert err.value.rcvd is not None and err.value.rcvd.code == 4029
        await c.send({"type": "ping"})  # the flooded connection is still fine
        assert (await c.recv_type("pong"))["type"] == "pong"
        await c.close()
        await second.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_slow_consumer_is_shed_while_others_keep_flowing(db_url: str, tmp_path: Path) -> None:
    import socket

    # Enough bytes to fill the kernel's socket buffers (up to 4 MB here) behind the slow reader.
    n = 700
    async with Stack(db_url, tmp_path, OUTBOX_LIMIT="16", **FAST) as st:
        a, ca = await st.world.user("Ada")
        b, cb = await st.world.user("Bob")
        s, cs = await st.world.user("Slow")
        event_id = await st.world.event(
            (a, Role.PARTICIPANT), (b, Role.PARTICIPANT), (s, Role.PARTICIPANT)
        )
        ch = f"event:{event_id}:chat"
        # A client that subscribes and then stops reading: a raw socket with a small window.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", st.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: classhub.json.v1\r\nOrigin: {ORIGIN}\r\n"
            f"Cookie: classhub_session={cs}\r\n\r\n".encode()
        )
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        sub = json.dumps({"type": "subscribe", "channels": [{"channel": ch}]}).encode()
        mask = b"\x00\x00\x00\x00"  # client frames must be masked; a zero mask keeps the bytes
        writer.write(bytes([0x81, 0x80 | len(sub)]) + mask + sub)
        await writer.drain()
        await eventually(lambda: any(c.user_id == s and c.subs for c in st.hub.clients.conns))
        fast = await HubClient.connect(st.port, cb)
        await fast.subscribe(ch)
        pub = await HubClient.connect(st.port, ca)
        big = "x" * 8000
        for i in range(n):
            await pub.send({"type": "publish", "id": f"b{i}", "channel": ch, "body": {"text": big}})
        got = await fast.wait_events(ch, n, timeout=60)
        assert seqs(got) == list(range(1, n + 1))
        # The slow reader's socket is full now; whatever comes next piles up in its outbox.
        for i in range(40):
            await pub.send(
                {"type": "publish", "id": f"s{i}", "channel": ch, "body": {"text": "small"}}
            )
        got = await fast.wait_events(ch, n + 40, timeout=30)
        assert seqs(got) == list(range(1, n + 41))
        await eventually(lambda: st.hub.stats.slow_consumer_closes >= 1)
        assert st.hub.stats.closes.get(4008) == 1  # only the slow one: the others kept flowing
        await eventually(lambda: all(c.user_id != s for c in st.hub.clients.conns))
        writer.close()
        await pub.close()
        await fast.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_oversize_and_bad_utf8_close_with_documented_codes(
    db_url: str, tmp_path: Path
) -> None:
    async with Stack(db_url, tmp_path, MAX_FRAME_BYTES="2048") as st:
        _a, ca = await st.world.user("Ada")
        c = await HubClient.connect(st.port, ca)
        await c.send({"type": "ping", "pad": "x" * 4000})
        with pytest.raises(ConnectionClosed) as err:
            await c.recv()
        assert err.value.rcvd is not None and err.value.rcvd.code == 1009
        c = await HubClient.connect(st.port, ca)
        await c.ws.send(b'{"type":"ping","x":"\xff\xfe"}', text=True)
        with pytest.raises(ConnectionClosed) as err:
            await c.recv()
        assert err.value.rcvd is not None and err.value.rcvd.code == 1007
        assert not st.hub.clients.conns


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_garbage_frames_get_error_frames(db_url: str, tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st_

    async with Stack(db_url, tmp_path) as stack:
        _a, ca = await stack.world.user("Ada")
        j = await HubClient.connect(stack.port, ca)
        m = await HubClient.connect(stack.port, ca, proto="msgpack")
        garbage: list[tuple[str, str | bytes]] = []

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            st_.one_of(
                st_.text(max_size=200).map(lambda t: ("text", t)),
                st_.binary(max_size=200).map(lambda b: ("bytes", b)),
                st_.dictionaries(
                    st_.text(max_size=8),
                    st_.text(max_size=8) | st_.integers(-(2**63), 2**63 - 1),
                    max_size=4,
                ).map(lambda d: ("dict", d)),
            )
        )
        def collect(item: tuple[str, object]) -> None:
            garbage.append(item)  # type: ignore[arg-type]

        collect()
        import json

        import msgpack

        for kind, value in garbage:
            for client in (j, m):
                if kind == "dict":
                    frame = {k: v for k, v in value.items() if k != "type"}  # type: ignore[union-attr]
                    frame["type"] = "bogus-" + uuid.uuid4().hex[:6]
                    raw: str | bytes = json.dumps(frame) if client is j else msgpack.packb(frame)
                else:
                    raw = value
                await client.ws.send(raw)
                answer = await client.recv()
                assert answer["type"] == "error", (raw, answer)
                assert answer["code"] in {"bad_frame", "unknown_type", "invalid"}
        for client in (j, m):  # still open and well
            await client.send({"type": "ping", "id": "after"})
            assert (await client.recv_type("pong"))["id"] == "after"
            await client.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_presence_snapshot_then_coalesced_changes(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        b, cb = await st.world.user("Bob")
        ev = await st.world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))
        x = await HubClient.connect(st.port, ca)
        await x.subscribe(f"event:{ev}:chat", presence=True)
        snap = await x.recv_type("presence")
        assert snap == {"type": "presence", "event": ev, "present": [{"id": a, "name": "Ada"}]}
        y = await HubClient.connect(st.port, cb)
        await y.subscribe(f"event:{ev}:board")
        change = await x.recv_type("presence")
        assert change["joined"] == [{"id": b, "name": "Bob"}] and change["left"] == []
        await y.close()
        change = await x.recv_type("presence")
        assert change["joined"] == [] and change["left"] == [b]
        await x.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_membership_change_disconnect_and_seen(db_url: str, tmp_path: Path) -> None:
    from storage.repo.events import unenrol

    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        ev = await st.world.event((a, Role.PARTICIPANT))
        seen: list[tuple[int, str, int]] = []

        async def on_seen(user_id: int, channel: str, event_id: int) -> None:
            seen.append((user_id, channel, event_id))

        st.hub.on_seen(on_seen)
        c = await HubClient.connect(st.port, ca)
        await c.subscribe(f"event:{ev}:chat", f"event:{ev}:news")
        ack = await c.publish(f"event:{ev}:chat", "hi")
        await c.send({"type": "seen", "channel": f"event:{ev}:chat", "event_id": ack["event_id"]})
        await c.send({"type": "seen", "channel": "event:999:chat", "event_id": 1})
        assert (await c.recv_type("error"))["code"] == "not_subscribed"
        assert seen == [(a, f"event:{ev}:chat", ack["event_id"])]
        async with st.world.db.session() as db:
            await unenrol(db, a, ev)
        await st.hub.membership_changed([a])
        gone = await c.recv_type("unsubscribed")
        assert gone["reason"] == "forbidden" and sorted(gone["channels"]) == [
            f"event:{ev}:chat",
            f"event:{ev}:news",
        ]
        assert (await c.publish(f"event:{ev}:chat", "still?"))["code"] == "forbidden"
        await st.hub.disconnect_user(a, "signed out")
        with pytest.raises(ConnectionClosed) as err:
            await c.recv()
        assert err.value.rcvd is not None and err.value.rcvd.code == 4401


async def test_a_dm_closes_when_the_peer_leaves_the_last_shared_event(
    db_url: str, tmp_path: Path
) -> None:
    """DMs are for two active people who share an event (docs/protocol.md section 4). The
    right is cached per connection; it depends on the peer too, so the peer leaving (or
    being blocked) must reach the other side's cache, not only the peer's own."""
    from storage.channels import dm_channel
    from storage.repo.events import unenrol

    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        b, _ = await st.world.user("Bob")
        ev = await st.world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))
        dm = dm_channel(a, b)
        c = await HubClient.connect(st.port, ca)
        assert (await c.publish(dm, "hello Bob"))["type"] == "ack"
        async with st.world.db.session() as db:
            await unenrol(db, b, ev)
        await st.hub.membership_changed([b])  # as the enrolment routes do
        answer = await c.publish(dm, "still there?")
        assert (answer["type"], answer.get("code")) == ("error", "forbidden")
        await c.close()


async def test_a_body_no_store_or_browser_can_take_is_refused_as_invalid(
    db_url: str, tmp_path: Path
) -> None:
    """NaN (Python's json reads it; it is no JSON) and NUL (PostgreSQL stores none in text)
    are refused with ``invalid`` on both backends, never stored nor answered "retry"."""
    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT))}:chat"
        c = await HubClient.connect(st.port, ca)
        for i, body in enumerate([{"text": "x", "n": float("nan")}, {"text": "a\x00b"}]):
            await c.send({"type": "publish", "id": f"bad{i}", "channel": ch, "body": body})
            while (answer := await c.recv())["type"] not in ("ack", "error"):
                pass
            assert (answer["type"], answer.get("code"), answer["id"]) == (
                "error",
                "invalid",
                f"bad{i}",
            )
        assert (await c.publish(ch, "fine"))["seq"] == 1
        await c.close()


async def test_an_admins_live_read_of_someone_elses_log_is_audited(
    db_url: str, tmp_path: Path
) -> None:
    """Subscribing replays the log: for an admin who takes no part in the event that is
    a review like GET /api/admin/messages, and leaves its audit row (one per channel,
    committed before the replay). Reading one's own event's channels is no review."""
    from sqlalchemy import select

    from storage.models import AuditEntry

    async def rows(actor: int) -> list[AuditEntry]:
        async with st.hub.db.session() as db:
            found = await db.execute(
                select(AuditEntry).where(AuditEntry.actor_id == actor).order_by(AuditEntry.id)
            )
            return list(found.scalars())

    async with Stack(db_url, tmp_path) as st:
        adm, cadm = await st.world.user("Ada Admin", admin=True)
        p, cp = await st.world.user("Pia")
        ev = await st.world.event((p, Role.PARTICIPANT))
        mine = await st.world.event((adm, Role.PARTICIPANT))
        pia = await HubClient.connect(st.port, cp)
        await pia.publish(f"event:{ev}:chat", "only for the class")
        c = await HubClient.connect(st.port, cadm)
        ans = await c.subscribe((f"event:{ev}:chat", 0), f"event:{mine}:chat")
        assert [a["status"] for a in ans["channels"]] == ["recovered", "ok"]
        assert [e["body"]["text"] for e in await c.wait_events(f"event:{ev}:chat", 1)] == [
            "only for the class"
        ]
        audited = await rows(adm)
        assert [(r.action, r.target) for r in audited] == [("review.subscribe", f"event:{ev}:chat")]
        assert audited[0].detail == {"since": 0} and audited[0].ip
        await pia.subscribe(f"event:{ev}:chat")
        assert await rows(p) == []
        for client in (c, pia):
            await client.close()


async def test_admin_rights_taken_away_reach_an_open_connection(
    db_url: str, tmp_path: Path
) -> None:
    """An admin reads every event's channels; once the rights are gone (``classhub user
    make-admin --revoke``, or any change to the account's row), an open connection keeps
    none of them: its subscriptions are checked again, as for a membership change."""
    from storage.models import User

    async with Stack(db_url, tmp_path) as st:
        adm, cadm = await st.world.user("Ada Admin", admin=True)
        p, _ = await st.world.user("Pia")
        ev = await st.world.event((p, Role.PARTICIPANT))
        other = await st.world.event((p, Role.PARTICIPANT))
        c = await HubClient.connect(st.port, cadm)
        ans = await c.subscribe(f"event:{ev}:chat")
        assert ans["channels"][0]["status"] == "ok"
        # The change as the servers' own database handle commits it (the CLI's reaches
        # this hub as the same accounts_changed control message).
        async with st.hub.db.session() as db:
            user = await db.get(User, adm)
            assert user is not None
            user.is_admin = False
        gone = await c.recv_type("unsubscribed")
        assert gone["reason"] == "forbidden" and gone["channels"] == [f"event:{ev}:chat"]
        ans = await c.subscribe(f"event:{other}:chat", rid="s2")
        assert ans["channels"][0] == {
            "channel": f"event:{other}:chat",
            "status": "denied",
            "code": "forbidden",
        }
        await c.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_heartbeat_closes_silent_peers_and_revoked_sessions_close(
    db_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from storage.models import AuthSession, utcnow

    async with Stack(
        db_url,
        tmp_path,
        CLASSHUB_HEARTBEAT_SECS="1",
        CLASSHUB_HEARTBEAT_TIMEOUT_SECS="2.5",
        CLASSHUB_REVALIDATE_SECS="1",
    ) as st:
        a, ca = await st.world.user("Ada")
        b, cb = await st.world.user("Bob")
        silent = await HubClient.connect(st.port, ca)
        alive = await HubClient.connect(st.port, cb)

        async def keep_reading() -> int:
            try:
                while True:
                    await alive.recv(timeout=30)  # answers every ping
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else -1

        reading = asyncio.create_task(keep_reading())
        # `silent` never reads, so never answers a ping: closed after the timeout.
        await eventually(lambda: not any(c.user_id == a for c in st.hub.clients.conns))
        assert any(c.user_id == b for c in st.hub.clients.conns) and not reading.done()
        with pytest.raises(ConnectionClosed) as err:
            while True:
                await silent.ws.recv()
        assert err.value.rcvd is not None and err.value.rcvd.code == 4408
        async with st.world.db.session() as db:  # signed out elsewhere: the socket follows
            await db.execute(
                update(AuthSession).where(AuthSession.user_id == b).values(revoked_at=utcnow())
            )
        assert await asyncio.wait_for(reading, 10) == 4401
        assert st.hub.stats.closes.get(4401) == 1


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_metrics_endpoint(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT))}:chat"
        c = await HubClient.connect(st.port, ca)
        await c.subscribe(ch)
        listener = await HubClient.connect(st.port, ca)
        await listener.subscribe(ch)
        await c.publish(ch, "hi")
        await c.wait_events(ch, 1)
        await listener.wait_events(ch, 1)
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{st.port}/metrics")).text
        for name in (
            "classhub_ws_connections",
            "classhub_ws_subscriptions",
            "classhub_ws_publishes_total",
            "classhub_ws_deliveries_total",
            "classhub_ws_batch_size_bucket",
            "classhub_ws_slow_consumer_closes_total",
            "classhub_ws_fanout_latency_seconds_bucket",
        ):
            assert name in text, name
        assert 'classhub_ws_publishes_total{result="ok"}' in text
        # Under uvicorn's websockets-sansio every frame of an open, keeping-up socket goes
        # straight to the transport (web/app.py WebSocketFastPath, realtime/transport.py):
        # nothing in the ASGI stack may hide the server's protocol object from the hub.
        assert st.hub.stats.frames > 0
        assert st.hub.stats.raw_frames == st.hub.stats.frames
        # The publisher's event waits behind its ack (end of the turn); the idle listener's
        # is written by fan-out itself.
        assert st.hub.stats.direct_writes >= 1
        assert "classhub_ws_raw_frames_total" in text
        await listener.close()
        await c.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_connection_keeps_nothing_of_its_handshake(db_url: str, tmp_path: Path) -> None:
    """10,000 connections x ~3 KB of headers nobody reads again (docs/performance.md, idle)."""
    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT))}:chat"
        c = await HubClient.connect(st.port, ca)
        await c.subscribe(ch)
        (conn,) = list(st.hub.clients.conns)
        proto = conn.raw.proto
        assert proto.request is None and proto.response is None
        locals_ = proto.conn.parser.gi_frame.f_locals
        assert "request" not in locals_  # the fresh frame parser, not the handshake's
        # ... and frames still parse after the swap: publish, receive, ping.
        assert (await c.publish(ch, "after the swap"))["type"] == "ack"
        assert [e["body"]["text"] for e in await c.wait_events(ch, 1)] == ["after the swap"]
        await c.send({"type": "ping", "id": "p"})
        assert (await c.recv_type("pong"))["id"] == "p"
        await c.close()


async def test_a_dm_is_announced_on_the_recipients_personal_channel(
    db_url: str, tmp_path: Path
) -> None:
    """Bob hears of Ada's message wherever he is: ``dm.received`` on user:<bob> names the
    conversation and the sender (no name, no text) and refers to the message."""
    from storage.channels import dm_channel

    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        b, cb = await st.world.user("Bob")
        await st.world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))
        dm = dm_channel(a, b)
        ada = await HubClient.connect(st.port, ca)
        bob = await HubClient.connect(st.port, cb)
        await ada.subscribe(f"user:{a}")
        await bob.subscribe(f"user:{b}")
        ack = await ada.publish(dm, "a private word")
        assert ack["type"] == "ack"
        (notice,) = await bob.wait_events(f"user:{b}", 1)
        assert notice["type"] == "dm.received" and notice["ref"] == ack["event_id"]
        assert notice["body"] == {"channel": dm, "from": a} and notice["author"] is None
        again = await ada.publish(
            dm, "a private word", cid=None
        )  # a second message: a second notice
        assert (await bob.wait_events(f"user:{b}", 2))[1]["ref"] == again["event_id"]
        with pytest.raises(TimeoutError):  # the sender is not told of their own message
            await ada.recv(timeout=0.5)
        assert ada.events[f"user:{a}"] == []
        await ada.close()
        await bob.close()
