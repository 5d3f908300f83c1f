"""Event bodies on the wire, end to end: a body is only taken when both subprotocols carry
it identically (docs/protocol.md, "publish / ack"), and one event that cannot be encoded
(stored before the rule, or written by a feature) never costs anyone another event."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from storage.models import Role
from storage.repo import channel_log
from storage.repo.channel_log import NewEvent
from tests.hub_support import HubClient, Stack, seqs

FAST = {"PUBLISH_RATE": "10000", "PUBLISH_BURST": "10000"}


async def _answer(client: HubClient, rid: str) -> dict[str, Any]:
    while True:
        frame = await client.recv()
        if frame["type"] in ("ack", "error") and frame.get("id") == rid:
            return frame


async def test_a_body_the_two_encodings_cannot_carry_alike_is_refused_and_breaks_nothing(
    db_url: str, tmp_path: Path
) -> None:
    """Issue 13 items 2 and 17: an integer beyond 64 bits was acknowledged and stored, then
    raised in fan-out (msgpack subscribers got nothing from then on); integer map keys
    reached msgpack subscribers as ints and JSON subscribers as strings. Both, and every
    other shape one encoding carries differently from the other, are refused with
    ``invalid``; nothing is stored, and the channel goes on for everyone."""
    async with Stack(db_url, tmp_path, **FAST) as st:
        a, ca = await st.world.user("Ada")
        b, cb = await st.world.user("Bob")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))}:chat"
        pub_json = await HubClient.connect(st.port, ca)
        pub_mp = await HubClient.connect(st.port, ca, proto="msgpack")
        sub_json = await HubClient.connect(st.port, cb)
        sub_mp = await HubClient.connect(st.port, cb, proto="msgpack")
        for s in (sub_json, sub_mp):
            assert (await s.subscribe(ch))["channels"][0]["status"] == "ok"

        # Sent as raw JSON text: Python's json.dumps would write the int just the same.
        for i, text in enumerate([
            '{"n": 99999999999999999999}',
            '{"n": -99999999999999999999}',
            '{"n": 9223372036854775808}',
            '{"deep": {"er": [1, 2, {"n": 18446744073709551616}]}}',
            '{"n": 1e400}',  # read as Infinity
            '{"s": "\\ud800"}',  # a lone surrogate: no UTF-8 text carries it
            '{"d": ' + "[" * 40 + "]" * 40 + "}",  # deeper than any body needs
        ]):
            rid = f"j{i}"
            await pub_json.ws.send(
                '{"type":"publish","id":"' + rid + '","channel":"' + ch + '","body":' + text + "}"
            )
            answer = await _answer(pub_json, rid)
            assert (answer["type"], answer.get("code")) == ("error", "invalid"), (text, answer)
            assert answer["message"]

        for i, body in enumerate([
            {1: "int key"},
            {"nested": {"list": [{2: "x"}]}},
            {True: "bool key"},
            {"b": b"\x00\x01 binary"},
            {"e": msgpack.ExtType(5, b"ext")},
            {"t": msgpack.Timestamp(1, 0)},
            {"n": 2**64 - 1},  # msgpack's uint64: beyond what a signed 64-bit reader holds
            {"n": float("nan")},
            {"n": float("-inf")},
        ]):
            rid = f"m{i}"
            raw = msgpack.packb(
                {"type": "publish", "id": rid, "channel": ch, "body": body}, strict_types=False
            )
            await pub_mp.ws.send(raw)
            answer = await _answer(pub_mp, rid)
            assert (answer["type"], answer.get("code")) == ("error", "invalid"), (body, answer)

        # Nothing of it was stored; the channel works for everyone, on both subprotocols.
        fine = {"text": "fine", "n": 2**63 - 1, "m": -(2**63), "f": 0.5, "l": [1, "x", None, True]}
        await pub_mp.send({"type": "publish", "id": "ok1", "channel": ch, "body": fine})
        assert (await _answer(pub_mp, "ok1"))["seq"] == 1
        assert (await pub_json.publish(ch, "after"))["seq"] == 2
        for s in (sub_json, sub_mp):
            got = await s.wait_events(ch, 2)
            assert seqs(got) == [1, 2]
            assert got[0]["body"] == fine and got[1]["body"] == {"text": "after"}
        for c in (pub_json, pub_mp, sub_json, sub_mp):
            await c.close()


async def test_an_unencodable_stored_event_never_costs_anyone_another_event(
    db_url: str, tmp_path: Path
) -> None:
    """An event whose body cannot be encoded (stored before the rule at the door, or
    written by a feature) reaches every subscriber, live and replayed, on both
    subprotocols, as the same ``unreadable`` placeholder in its place in the sequence;
    the events around it arrive whole and no connection is closed (it was 1011 on every
    replay, for ever)."""
    async with Stack(db_url, tmp_path, **FAST) as st:
        a, ca = await st.world.user("Ada")
        b, cb = await st.world.user("Bob")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))}:chat"
        sub_json = await HubClient.connect(st.port, cb)
        sub_mp = await HubClient.connect(st.port, cb, proto="msgpack")
        for s in (sub_json, sub_mp):
            await s.subscribe(ch)
        async with st.world.db.session() as db:
            stored = await channel_log.append(db, [
                NewEvent(ch, "message", {"text": "before"}, a, "x1"),
                NewEvent(ch, "message", {"n": 99999999999999999999}, a, "x2"),
                NewEvent(ch, "message", {"text": "between"}, a, "x3"),
                NewEvent(ch, "note.created", {"deep": {"big": [2**70]}}, None, None),
                NewEvent(ch, "message", {"text": "after"}, a, "x4"),
            ])
        await st.hub.broadcast(stored)
        pub = await HubClient.connect(st.port, ca)
        assert (await pub.publish(ch, "live"))["seq"] == 6

        placeholder = {"reason": "the stored body cannot be sent identically as JSON and msgpack"}

        def check(events: list[dict[str, Any]]) -> None:
            assert seqs(events) == [1, 2, 3, 4, 5, 6]
            assert [e["type"] for e in events] == [
                "message", "unreadable", "message", "unreadable", "message", "message"
            ]
            assert [e["body"] for e in events] == [
                {"text": "before"}, placeholder, {"text": "between"}, placeholder,
                {"text": "after"}, {"text": "live"},
            ]
            assert events[1]["id"] == stored[1].id and events[1]["author"]["id"] == a

        for s in (sub_json, sub_mp):
            check(await s.wait_events(ch, 6))

        # Replaying from the start, on both subprotocols (and again: it is no one-off).
        for proto in ("msgpack", "json", "msgpack"):
            again = await HubClient.connect(st.port, cb, proto=proto)
            answer = await again.subscribe((ch, 0))
            assert answer["channels"][0]["status"] == "recovered"
            check(await again.wait_events(ch, 6))
            await again.send({"type": "ping", "id": "still-open"})
            assert (await again.recv_type("pong"))["id"] == "still-open"
            await again.close()
        assert (await pub.publish(ch, "later"))["seq"] == 7
        for s in (sub_json, sub_mp):
            assert seqs(await s.wait_events(ch, 7))[-1] == 7
        for c in (pub, sub_json, sub_mp):
            await c.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_frames_of_both_subprotocols_carry_the_same_body(db_url: str, tmp_path: Path) -> None:
    """What a msgpack publisher sends reaches JSON and msgpack subscribers, live and
    replayed, as the same value (a default decoder on each side, no options)."""
    async with Stack(db_url, tmp_path, **FAST) as st:
        a, ca = await st.world.user("Ada")
        ch = f"event:{await st.world.event((a, Role.PARTICIPANT))}:chat"
        sub_json = await HubClient.connect(st.port, ca)
        sub_mp = await HubClient.connect(st.port, ca, proto="msgpack")
        for s in (sub_json, sub_mp):
            await s.subscribe(ch)
        body = {"text": "ü €", "k": {"1": [1.25, -3, "x"]}, "when": dt.date(2026, 1, 2).isoformat()}
        pub = await HubClient.connect(st.port, ca, proto="msgpack")
        await pub.send({"type": "publish", "id": "p1", "channel": ch, "body": body})
        assert (await _answer(pub, "p1"))["type"] == "ack"
        live = [(await s.wait_events(ch, 1))[0]["body"] for s in (sub_json, sub_mp)]
        replayed = []
        for proto in ("json", "msgpack"):
            r = await HubClient.connect(st.port, ca, proto=proto)
            await r.subscribe((ch, 0))
            replayed.append((await r.wait_events(ch, 1))[0]["body"])
            await r.close()
        assert live == replayed == [body, body]
        assert json.loads(json.dumps(body)) == body
        for c in (pub, sub_json, sub_mp):
            await c.close()
