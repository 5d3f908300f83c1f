"""The protocol core, driven synchronously: codec, framing and frame validation."""

from __future__ import annotations

import contextlib
import json

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.protocol import frames as F
from realtime.protocol.codec import JSON, MSGPACK, WireEvent, choose_subprotocol
from realtime.protocol.errors import ProtocolError
from storage.repo.channel_log import StoredEvent
from tests.protocol_support import stored, ws_frames

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
                frames = [decode(p) for _, p in ws_frames(shared_frame(wires, codec)[0])]
                assert len(frames) == 1 and frames[0]["type"] == "batch"
                decoded.append(frames[0]["events"])
                lone = decode(ws_frames(wires[1].ws_frame(codec))[0][1])
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
