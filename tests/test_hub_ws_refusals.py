"""The hub over real WebSockets: what is refused at the door and bad input on an open
connection (uvicorn in the test's loop, websockets client)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from storage.models import Role
from tests.hub_support import ORIGIN, HubClient, Stack


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
