"""The hub's I/O-free core, driven synchronously: no sockets, no database, no broker."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.protocol import frames as F
from realtime.protocol.codec import JSON, MSGPACK, WireEvent, choose_subprotocol
from realtime.protocol.errors import ProtocolError
from realtime.protocol.outbox import Outbox
from realtime.protocol.presence import LocalAttendance, PresenceBoard
from realtime.protocol.ratelimit import TokenBucket
from realtime.protocol.recovery import Recovery, SubState
from realtime.protocol.sequencer import Sequencer
from storage.repo.channel_log import StoredEvent

if TYPE_CHECKING:
    from storage.models import User


@dataclass(frozen=True)
class E:
    seq: int


def stored(seq: int, channel: str = "event:1:chat") -> StoredEvent:
    return StoredEvent(
        id=100 + seq,
        channel=channel,
        seq=seq,
        type="message",
        author_id=7,
        client_id=f"c{seq}",
        ref_id=None,
        body={"text": f"m{seq} ü"},
        created_at=dt.datetime(2026, 11, 21, 22, 31, 5, 123456, dt.UTC),
    )


# Codec and framing.

def test_event_is_encoded_once_and_spliced_into_frames() -> None:
    w = WireEvent(stored(3), "Ada")
    assert w.encoded(JSON) is w.encoded(JSON)  # cached: the same object for every subscriber
    single = json.loads(JSON.event_frame(w.encoded(JSON)))
    assert single == {"type": "event", "event": {
        "channel": "event:1:chat", "seq": 3, "id": 103, "type": "message",
        "author": {"id": 7, "name": "Ada"}, "time": "2026-11-21T22:31:05.123Z",
        "body": {"text": "m3 ü"}, "ref": None}}
    assert msgpack.unpackb(MSGPACK.event_frame(w.encoded(MSGPACK))) == single
    many = [WireEvent(stored(s), "Ada") for s in range(1, 40)]  # crosses the msgpack fixarray size
    for codec, decode in ((JSON, json.loads), (MSGPACK, msgpack.unpackb)):
        batch = decode(codec.batch_frame([m.encoded(codec) for m in many]))
        assert batch["type"] == "batch" and [e["seq"] for e in batch["events"]] == list(
            range(1, 40)
        )


def test_decode_refuses_what_is_not_a_frame() -> None:
    for codec, bad in ((JSON, "{"), (JSON, "[1]"), (JSON, b"{}"), (JSON, "[" * 100_000),
                       (MSGPACK, b"\xc1"), (MSGPACK, msgpack.packb([1])), (MSGPACK, "{}"),
                       (MSGPACK, b"\xa2\xff\xfe")):
        with pytest.raises(ProtocolError) as err:
            codec.decode(bad)
        assert err.value.code == "bad_frame"


def test_subprotocol_choice_follows_client_order() -> None:
    assert choose_subprotocol(["x", "classhub.msgpack.v1", "classhub.json.v1"]) is MSGPACK
    assert choose_subprotocol(["classhub.json.v1"]) is JSON
    assert choose_subprotocol(["classhub.json.v2"]) is None


# Frame validation.

def test_parse_valid_frames() -> None:
    sub = F.parse(
        {
            "type": "subscribe",
            "id": "s1",
            "channels": [{"channel": "event:1:chat", "since": 4, "presence": True}],
        }
    )
    assert sub == F.Subscribe("s1", (F.SubscribeEntry("event:1:chat", 4, True),))
    pub = F.parse(
        {"type": "publish", "id": "c-1", "channel": "dm:1:2", "body": {"text": "hi"}, "ref": 9}
    )
    assert pub == F.Publish("c-1", "dm:1:2", {"text": "hi"}, 9)
    assert F.parse({"type": "seen", "channel": "event:1:news", "event_id": 3}) == F.Seen(
        "event:1:news", 3
    )
    assert F.parse({"type": "ping", "id": "p"}) == F.Ping("p")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({}, "unknown_type"),
        ({"type": "shout"}, "unknown_type"),
        ({"type": "publish", "channel": "x", "body": {}}, "invalid"),  # no id
        ({"type": "publish", "id": "", "channel": "x", "body": {}}, "invalid"),
        ({"type": "publish", "id": "a" * 65, "channel": "x", "body": {}}, "invalid"),
        ({"type": "publish", "id": "é", "channel": "x", "body": {}}, "invalid"),
        ({"type": "publish", "id": "1", "channel": "x", "body": "text"}, "invalid"),
        (
            {"type": "publish", "id": "1", "channel": "x", "body": {"t": "a" * 9000}},
            "body_too_large",
        ),
        ({"type": "publish", "id": "1", "channel": "x", "body": {}, "ref": True}, "invalid"),
        # Not JSON: would reach browsers in frames their JSON.parse throws away.
        ({"type": "publish", "id": "1", "channel": "x", "body": {"n": float("nan")}}, "invalid"),
        ({"type": "publish", "id": "1", "channel": "x", "body": {"n": [float("inf")]}}, "invalid"),
        # NUL: PostgreSQL stores none in text (it answered "unavailable, retry").
        ({"type": "publish", "id": "1", "channel": "x", "body": {"text": "a\x00b"}}, "invalid"),
        ({"type": "publish", "id": "1", "channel": "x", "body": {"a\x00": "b"}}, "invalid"),
        ({"type": "publish", "id": "1", "channel": "x", "body": {"l": [{"t": "\x00"}]}}, "invalid"),
        # Not the same in JSON and msgpack (issue 13): an integer beyond 64 bits was stored
        # and then failed to pack for every msgpack subscriber; integer keys reached msgpack
        # readers as ints and JSON readers as strings; binary, extension types, deep nesting.
        ({"type": "publish", "id": "1", "channel": "x", "body": {"n": 10**20}}, "invalid"),
        ({"type": "publish", "id": "1", "channel": "x", "body": {"n": [-(2**63) - 1]}}, "invalid"),
        ({"type": "publish", "id": "1", "channel": "x", "body": {"n": 2**63}}, "invalid"),
        ({"type": "publish", "id": "1", "channel": "x", "body": {1: "a"}}, "invalid"),
        (
            {"type": "publish", "id": "1", "channel": "x", "body": {"a": [{"b": {2.5: 1}}]}},
            "invalid",
        ),
        ({"type": "publish", "id": "1", "channel": "x", "body": {"a": {None: 1}}}, "invalid"),
        ({"type": "publish", "id": "1", "channel": "x", "body": {"b": b"bytes"}}, "invalid"),
        (
            {"type": "publish", "id": "1", "channel": "x", "body": {"e": msgpack.ExtType(1, b"")}},
            "invalid",
        ),
        (
            {"type": "publish", "id": "1", "channel": "x", "body": {"t": msgpack.Timestamp(0)}},
            "invalid",
        ),
        ({"type": "publish", "id": "1", "channel": "x", "body": {"s": "\ud800"}}, "invalid"),
        ({"type": "publish", "id": "1", "channel": "x", "body": {"\udfff": 1}}, "invalid"),
        (
            {
                "type": "publish",
                "id": "1",
                "channel": "x",
                "body": {"d": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
            },
            "invalid",
        ),
        ({"type": "subscribe", "channels": []}, "invalid"),
        ({"type": "subscribe", "channels": ["event:1:chat"]}, "invalid"),
        ({"type": "subscribe", "channels": [{"channel": "c", "since": -1}]}, "invalid"),
        ({"type": "subscribe", "channels": [{"channel": "c", "since": 2**70}]}, "invalid"),
        ({"type": "unsubscribe", "channels": [3]}, "invalid"),
        ({"type": "seen", "channel": "c"}, "invalid"),
    ],
)
def test_parse_refuses_with_documented_codes(frame: dict[str, object], code: str) -> None:
    with pytest.raises(ProtocolError) as err:
        F.parse(frame)
    assert err.value.code == code
    assert err.value.frame()["type"] == "error"


def test_a_body_both_encodings_carry_alike_is_taken() -> None:
    from realtime.protocol.codec import MAX_BODY_DEPTH

    body = {"text": "ü €", "n": 2**63 - 1, "m": -(2**63), "f": -0.0, "l": [None, True, 1.5e300],
            "d": {"k": []}}
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(MAX_BODY_DEPTH - 1):
        inner["x"] = inner = {}
    for b in (body, deep):
        assert F.parse({"type": "publish", "id": "1", "channel": "x", "body": b}) == F.Publish(
            "1", "x", b, None
        )
    too_deep = {"x": deep}
    with pytest.raises(ProtocolError, match="nest at most"):
        F.parse({"type": "publish", "id": "1", "channel": "x", "body": too_deep})
    with pytest.raises(ProtocolError, match="map keys must be strings"):
        F.parse({"type": "publish", "id": "1", "channel": "x", "body": {"a": {7: "x"}}})


@pytest.mark.parametrize(
    ("n", "body"),
    list(
        enumerate(
            [
                {"n": 99999999999999999999},
                {"l": [1, {"n": -(2**64)}]},
                {"x": float("nan")},
                {"k": {1: 2}},
                {"b": b"raw"},
                {"s": "\ud800"},
                {
                    "d": {
                        "x": {
                            "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
                        }
                    }
                },
            ]
        )
    ),
)
def test_an_event_that_cannot_be_encoded_goes_out_as_the_same_placeholder_on_both(
    n: int, body: dict[object, object], caplog: pytest.LogCaptureFixture
) -> None:
    """Stored before the rule at the door (or written by a feature): the event keeps its
    place in the sequence as ``unreadable`` on both subprotocols, never raises in
    fan-out, and its neighbours in a batch frame are whole. Logged once per process."""
    import logging

    from realtime.cluster import pack_events, unpack_events
    from realtime.protocol.codec import UNREADABLE, UNREADABLE_BODY, shared_frame

    bad = StoredEvent(
        id=99_000 + n, channel="event:1:chat", seq=2, type="message", author_id=7,
        client_id="c2", ref_id=5, body=body, created_at=stored(1).created_at,  # type: ignore[arg-type]
    )
    with caplog.at_level(logging.WARNING, "classhub.hub"):
        for _ in range(2):  # replayed twice: logged once
            wires = [
                WireEvent(stored(1), "Ada"),
                WireEvent(bad, "Ada"),
                WireEvent(stored(3), "Ada"),
            ]
            decoded = []
            for codec, decode in ((JSON, json.loads), (MSGPACK, msgpack.unpackb)):
                frames = [decode(p) for _, p in _ws_frames(shared_frame(wires, codec)[0])]
                assert len(frames) == 1 and frames[0]["type"] == "batch"
                decoded.append(frames[0]["events"])
                lone = decode(_ws_frames(wires[1].ws_frame(codec))[0][1])
                assert lone["event"] == frames[0]["events"][1]
            assert decoded[0] == decoded[1]
            events = decoded[0]
            assert [e["seq"] for e in events] == [1, 2, 3]
            assert [e["type"] for e in events] == ["message", UNREADABLE, "message"]
            assert events[1]["body"] == UNREADABLE_BODY and events[1]["ref"] == 5
            assert events[1]["author"] == {"id": 7, "name": "Ada"}
            assert events[0]["body"] == {"text": "m1 ü"} and events[2]["body"] == {"text": "m3 ü"}
            # The broker message of the commit packs (it failed, losing the commit's other
            # events for every other process), carrying the placeholder.
            across = unpack_events(pack_events(wires))
            assert [w.payload["type"] for w in across] == ["message", UNREADABLE, "message"]
            assert across[1].payload["body"] == UNREADABLE_BODY
    logged = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(logged) == 1 and not logged[0].exc_info
    assert "event:1:chat #2" in logged[0].getMessage()


def test_an_encoder_failure_past_the_body_check_still_sends_the_placeholder() -> None:
    """Belt and braces: whatever else fails to encode, ``encoded`` never raises."""
    ev = StoredEvent(
        id=98_001, channel="event:1:chat", seq=4, type="message", author_id=7, client_id=None,
        ref_id=None, body={"text": "x"}, created_at=stored(1).created_at,
    )
    w = WireEvent(ev, "Ada")
    w.payload["extra"] = object()  # not something a body check would ever see
    for codec, decode in ((MSGPACK, msgpack.unpackb), (JSON, json.loads)):
        out = decode(codec.event_frame(w.encoded(codec)))["event"]
        assert out["type"] == "unreadable" and out["seq"] == 4


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(
    st.dictionaries(
        st.sampled_from(["type", "id", "channel", "channels", "body", "since", "event_id", "ref"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
            max_leaves=8,
        ),
    )
)
def test_parse_never_raises_anything_but_protocol_errors(frame: dict[str, object]) -> None:
    with contextlib.suppress(ProtocolError):
        F.parse(frame)


# Sequencer.

def test_sequencer_orders_and_drops_duplicates() -> None:
    s: Sequencer[E] = Sequencer(10)
    assert s.offer(E(10)) == [] and s.offer(E(9)) == []  # delivered before
    assert s.offer(E(12)) == [] and s.gap == (11, 11)
    assert s.offer(E(12)) == []  # already waiting
    assert [e.seq for e in s.offer(E(11))] == [11, 12] and s.gap is None
    assert s.offer(E(15)) == [] and s.offer(E(14)) == [] and s.gap == (13, 13)
    assert [e.seq for e in s.fill([E(13), E(14)])] == [13, 14, 15]
    assert s.delivered == 15


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(st.permutations(list(range(1, 60))), st.lists(st.integers(1, 59), max_size=20))
def test_sequencer_delivers_any_arrival_order_exactly_once_in_order(
    order: list[int], dups: list[int]
) -> None:
    s: Sequencer[E] = Sequencer(0)
    out: list[int] = []
    for seq in order + dups:
        out.extend(e.seq for e in s.offer(E(seq)))
    assert out == list(range(1, 60))


# Recovery at the replay/live boundary.

def test_recovery_joins_replay_and_buffer_without_gap_or_duplicate() -> None:
    r: Recovery[E] = Recovery()
    for seq in (6, 7, 8):  # live events that arrived while the store was read
        assert r.offer(E(seq)) == []
    # The store had up to 7 when read: 6 and 7 overlap the buffer.
    out = r.finish(start=3, replayed=[E(4), E(5), E(6), E(7)], feed_delivered=8)
    assert [e.seq for e in out] == [4, 5, 6, 7, 8]
    assert r.state is SubState.LIVE and r.cursor == 8


def test_recovery_catches_up_when_the_store_is_ahead_of_the_feed() -> None:
    r: Recovery[E] = Recovery()
    out = r.finish(start=3, replayed=[E(4), E(5)], feed_delivered=3)
    assert [e.seq for e in out] == [4, 5] and r.state is SubState.CATCHING_UP
    assert r.offer(E(4)) == [] and r.offer(E(5)) == []  # got them from the replay already
    # mypy keeps r.state narrowed to CATCHING_UP from above; offer() moved it on
    assert [e.seq for e in r.offer(E(6))] == [6] and r.state is SubState.LIVE  # type: ignore[comparison-overlap]


def test_recovery_without_since_starts_at_head() -> None:
    r: Recovery[E] = Recovery()
    r.offer(E(5))
    r.offer(E(6))
    assert [e.seq for e in r.finish(start=5, replayed=[], feed_delivered=6)] == [6]


def test_recovery_detects_a_hole_instead_of_hiding_it() -> None:
    r: Recovery[E] = Recovery()
    r.offer(E(9))
    with pytest.raises(RuntimeError):
        r.finish(start=3, replayed=[E(4)], feed_delivered=9)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))
def test_recovery_boundary_property(since: int, head_extra: int, feed_lag: int) -> None:
    """Whatever the store and the feed had at the boundary,
    the subscriber sees since+1.. exactly once."""
    head = since + head_extra  # the store's head when read
    feed_at_attach = max(0, head - feed_lag)  # the feed can only be behind the store
    r: Recovery[E] = Recovery()
    delivered = feed_at_attach
    got: list[int] = []
    # The feed moves on while the store is read; it never passes what is committed (head + 5 here).
    for seq in range(feed_at_attach + 1, head + 3):
        got += [e.seq for e in r.offer(E(seq))]
        delivered = seq
    got += [e.seq for e in r.finish(since, [E(s) for s in range(since + 1, head + 1)], delivered)]
    for seq in range(delivered + 1, head + 6):
        got += [e.seq for e in r.offer(E(seq))]
    assert got == list(range(since + 1, head + 6))


# Token bucket.

def test_token_bucket() -> None:
    b = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [b.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(0.0) == pytest.approx(0.5)
    assert b.take(0.5) == 0.0 and b.take(0.5) > 0
    assert b.full(10.0)


# Presence.

def test_presence_counts_connections_and_coalesces() -> None:
    local = LocalAttendance()
    board = PresenceBoard()
    local.join(1, 7, "Ada")
    local.join(1, 7, "Ada")  # a second tab
    board.update("n1", local.take_dirty(), 0.0)
    assert board.snapshot(1) == {7: "Ada"}
    local.leave(1, 7)
    assert local.take_dirty() == {}  # still one tab open
    local.leave(1, 7)
    local.join(1, 7, "Ada")  # left and came back within one tick
    board.update("n1", local.take_dirty(), 1.0)
    assert board.take_changes({1}) == []
    local.join(1, 8, "Bob")
    local.join(1, 9, "Cy")
    board.update("n1", local.take_dirty(), 2.0)
    board.update("n2", {1: {10: "Di"}}, 2.0)
    assert board.take_changes({1}) == [(1, {8: "Bob", 9: "Cy", 10: "Di"}, [])]
    board.expire(100.0, 65.0, keep="n1")  # n2 went silent
    assert board.take_changes({1}) == [(1, {}, [10])]
    with pytest.raises(RuntimeError):
        local.leave(2, 7)


def test_presence_full_announcement_replaces_a_nodes_view() -> None:
    board = PresenceBoard()
    board.update("n2", {1: {5: "E"}, 2: {6: "F"}}, 0.0)
    assert board.snapshot(2) == {6: "F"}
    board.update("n2", {1: {5: "E"}}, 1.0, full=True)
    assert board.take_changes({2}) == [(2, {}, [6])]


# Outbox.

def test_outbox_joins_waiting_events_and_keeps_frame_order() -> None:
    box = Outbox(JSON, limit=5)
    evs = [WireEvent(stored(s), "Ada") for s in (1, 2, 3)]
    assert box.push_frame('{"type":"ack"}')
    assert box.push_event(evs[0]) and box.push_event(evs[1])
    assert box.push_frame('{"type":"pong"}')
    assert box.push_event(evs[2])
    assert not box.push_event(evs[0])  # over the bound: the caller sheds the connection
    frames, n = box.take_frames()
    kinds = [json.loads(f)["type"] for f in frames]
    assert kinds == ["ack", "batch", "pong", "batch"] and n == 4
    assert not box and box.take_frames() == ([], 0)


def _ws_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split server (unmasked) WebSocket frames: [(opcode, payload)]."""
    out = []
    i = 0
    while i < len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = int.from_bytes(data[i:i + 2], "big")
            i += 2
        elif n == 127:
            n = int.from_bytes(data[i:i + 8], "big")
            i += 8
        out.append((op, data[i:i + n]))
        i += n
    assert i == len(data)
    return out


def test_shared_frame_is_one_event_or_batches_under_the_size_limit() -> None:
    from realtime.protocol.codec import MAX_BATCH_BYTES, shared_frame

    one = WireEvent(stored(1), "Ada")
    data, n = shared_frame([one], JSON)
    assert n == 1 and data is one.ws_frame(JSON)  # the cached bytes, shared by every socket
    # JSON's encoded() is a str (mypy sees the str | bytes of both codecs)
    text = '{"type":"event","event":' + one.encoded(JSON) + "}"  # type: ignore[operator]
    assert _ws_frames(data) == [(1, text.encode())]
    # ~40 KiB events: a group commit of 20 of them must not become one 800 KiB frame.
    big = [
        WireEvent(
            StoredEvent(
                id=s,
                channel="event:1:chat",
                seq=s,
                type="message",
                author_id=7,
                client_id=None,
                ref_id=None,
                body={"text": "x" * 40_000},
                created_at=stored(1).created_at,
            ),
            "Ada",
        )
        for s in range(1, 21)
    ]
    for codec, decode, opcode in ((JSON, json.loads, 1), (MSGPACK, msgpack.unpackb, 2)):
        data, n = shared_frame(big, codec)
        frames = _ws_frames(data)
        assert n == len(frames) > 1
        seqs = []
        for op, payload in frames:
            assert op == opcode and len(payload) < MAX_BATCH_BYTES + 50_000
            frame = decode(payload)
            seqs += (
                [e["seq"] for e in frame["events"]]
                if frame["type"] == "batch"
                else [frame["event"]["seq"]]
            )
        assert seqs == list(range(1, 21))


def test_outbox_ws_frames_keep_order_and_share_fan_out_frames() -> None:
    box = Outbox(JSON, limit=10)
    evs = [WireEvent(stored(s), "Ada") for s in (1, 2, 3)]
    box.push_frame('{"type":"ack"}')
    box.push_event(evs[0])
    box.push_event(evs[1])
    box.push_frame('{"type":"pong"}')
    box.push_event(evs[2])
    data, frames, events = box.take_ws_frames()
    parsed = [json.loads(p) for _, p in _ws_frames(data)]
    assert [f["type"] for f in parsed] == ["ack", "batch", "pong", "event"]
    assert [e["seq"] for e in parsed[1]["events"]] == [1, 2] and parsed[3]["event"]["seq"] == 3
    assert (frames, events) == (4, 3) and not box
    assert data.endswith(evs[2].ws_frame(JSON))  # a lone event: the frame every socket gets


# Fan-out: direct writes in chunks, in order, whatever happens between the chunks.

class _Transport:
    """What fan-out uses of a transport; records every write."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closing = False
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered


class _Raw:
    """The connection's direct-write handle (realtime.transport.RawSocket) over a fake transport."""

    def __init__(self, transport: _Transport) -> None:
        self.transport = transport
        self.write = transport.write

    def ready(self) -> bool:
        return not self.transport.closing


def _fan_out_world(n: int) -> tuple[Any, list[Any]]:  # test doubles in the transports
    from types import SimpleNamespace

    from realtime.connection import Connection
    from realtime.feeds import Feed
    from realtime.metrics import HubStats

    stats = HubStats()
    feed = Feed("event:1:chat", stats)
    feed.make_ready(0)

    async def send(_message: dict[str, object]) -> None:  # never used: every connection is raw
        raise AssertionError("ASGI send used")

    conns = []
    for i in range(n):
        conn = Connection(
            # A stand-in with the two fields a Connection reads, not an ORM row.
            user=cast("User", SimpleNamespace(id=i + 1, display_name=f"u{i}")),
            session_hash="h",
            codec=JSON,
            send=send,
            outbox_limit=1000,
            stats=stats,
            on_shed=lambda c: None,
            on_dirty=lambda c: None,
        )
        transport = _Transport()
        conn.raw = _Raw(transport)  # type: ignore[assignment]
        conn.transport = transport
        conns.append(conn)
        feed._add_live(conn)
        conn.enter_direct()
    return feed, conns


def _seqs_received(conn: Any) -> list[int]:
    seqs: list[int] = []
    for _op, payload in _ws_frames(bytes(conn.transport.data)):
        frame = json.loads(payload)
        if frame["type"] == "event":
            seqs.append(frame["event"]["seq"])
        elif frame["type"] == "batch":
            seqs += [e["seq"] for e in frame["events"]]
    return seqs


async def test_chunked_fan_out_keeps_every_connections_order_through_joins_leaves_and_merges(
) -> None:
    import asyncio

    from realtime.feeds import FANOUT_CHUNK

    n = 3 * FANOUT_CHUNK + 10
    feed, conns = _fan_out_world(n)
    evs = [WireEvent(stored(s), "Ada") for s in range(1, 5)]

    feed.deliver([evs[0]])
    first = [c for c in conns if c.transport.data]
    assert len(first) == FANOUT_CHUNK  # one chunk now, the rest in later turns of the loop
    waiting = [c for c in conns if not c.transport.data]
    # Between chunks: one connection gets a control frame (an ack: it leaves direct and
    # takes the job's event into its outbox first), one unsubscribes, one's socket fills.
    acked, gone, full = waiting[0], waiting[1], waiting[2]
    acked.push({"type": "ack", "id": "x", "channel": "event:1:chat", "seq": 9, "event_id": 9})
    feed.detach(gone)
    full.transport.buffered = 10
    # A second and third post arrive while the first job is under way: those it has not
    # reached get all of them in one frame, the others a job of their own after it.
    feed.deliver([evs[1]])
    feed.deliver([evs[2], evs[3]])
    for _ in range(20):
        await asyncio.sleep(0)
    assert not feed.jobs
    for conn in (acked, full):  # what the hub's end-of-turn flush would do
        conn.transport.buffered = 0
        conn.flush()
    for conn in conns:
        got = _seqs_received(conn)
        if conn is gone:
            assert got == []
        else:
            assert got == [1, 2, 3, 4], (conns.index(conn), got)
    # The ones the first job had not reached when the others arrived: one write for all four.
    merged = [c for c in waiting[3:] if len(_ws_frames(bytes(c.transport.data))) == 1]
    assert len(merged) == len(waiting) - 3
    ack_frames = [json.loads(p)["type"] for _op, p in _ws_frames(bytes(acked.transport.data))]
    assert ack_frames[:2] == ["batch", "ack"] or ack_frames[:2] == ["event", "ack"]
    # Back on the direct path after their flush.
    assert all(c.direct for c in conns if c is not gone)


async def test_closing_transport_takes_the_outbox_path_and_gets_nothing_twice() -> None:
    import asyncio

    feed, conns = _fan_out_world(5)
    conns[1].transport.closing = True
    feed.deliver([WireEvent(stored(1), "Ada")])
    feed.deliver([WireEvent(stored(2), "Ada")])
    await asyncio.sleep(0)
    assert not conns[1].direct and conns[1] in feed.queued
    assert [e.event.seq for e in conns[1].outbox.items] == [1, 2]
    for conn in conns[:1] + conns[2:]:
        assert _seqs_received(conn) == [1, 2]
