"""The hub over real WebSockets: resume, replay, idempotent retries, slow consumers,
presence and metrics (uvicorn in the test's loop, websockets client)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

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
