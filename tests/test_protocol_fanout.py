"""The protocol core, driven synchronously: shared frames and the chunked fan-out (no
sockets, no database, no broker)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import msgpack

from realtime.protocol.codec import JSON, MSGPACK, WireEvent
from realtime.protocol.outbox import Outbox
from storage.repo.channel_log import StoredEvent
from tests.protocol_support import stored, ws_frames

if TYPE_CHECKING:
    from storage.models import User


def test_shared_frame_is_one_event_or_batches_under_the_size_limit() -> None:
    from realtime.protocol.codec import MAX_BATCH_BYTES, shared_frame

    one = WireEvent(stored(1), "Ada")
    data, n = shared_frame([one], JSON)
    assert n == 1 and data is one.ws_frame(JSON)  # the cached bytes, shared by every socket
    # JSON's encoded() is a str (mypy sees the str | bytes of both codecs)
    text = '{"type":"event","event":' + one.encoded(JSON) + "}"  # type: ignore[operator]
    assert ws_frames(data) == [(1, text.encode())]
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
        frames = ws_frames(data)
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
    parsed = [json.loads(p) for _, p in ws_frames(data)]
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
    for _op, payload in ws_frames(bytes(conn.transport.data)):
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
    merged = [c for c in waiting[3:] if len(ws_frames(bytes(c.transport.data))) == 1]
    assert len(merged) == len(waiting) - 3
    ack_frames = [json.loads(p)["type"] for _op, p in ws_frames(bytes(acked.transport.data))]
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
