"""The load generator's I/O-free parts: frame parsing, delivery accounting, plans, codecs."""

from __future__ import annotations

import argparse
import json
import time

import msgpack
import numpy as np
import pytest

from loadtest.codec import get_codec, post_text, sent_at
from loadtest.metrics import _peak_utilisation, percentiles_ms
from loadtest.scenarios import build_plan
from loadtest.tracking import ChannelCursor
from loadtest.wsframes import (
    OP_BINARY,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    FrameReader,
    WSProtocolError,
    check_handshake_response,
    encode_frame,
)


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(n)
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return bytes(head) + payload


# frames ---------------------------------------------------------------------------------


def test_reader_splits_any_chunking_into_the_same_messages() -> None:
    big = b"y" * 70_000
    stream = (
        server_frame(OP_TEXT, b"hello")
        + server_frame(OP_BINARY, b"x" * 300)
        + server_frame(OP_BINARY, big)
        + server_frame(OP_PING, b"p")
    )
    expected = [(OP_TEXT, b"hello"), (OP_BINARY, b"x" * 300), (OP_BINARY, big), (OP_PING, b"p")]
    for size in (1, 2, 3, 7, 125, 4096, len(stream)):
        reader = FrameReader()
        got = []
        for i in range(0, len(stream), size):
            got += reader.feed(stream[i : i + size])
        assert got == expected, size


def test_reader_joins_fragments_and_passes_control_frames_between_them() -> None:
    reader = FrameReader()
    got = reader.feed(
        server_frame(OP_TEXT, b"ab", fin=False)
        + server_frame(OP_PING, b"")
        + server_frame(OP_CONT, b"cd", fin=False)
        + server_frame(OP_CONT, b"ef")
    )
    assert got == [(OP_PING, b""), (OP_TEXT, b"abcdef")]


@pytest.mark.parametrize(
    "raw",
    [
        bytes([0x81, 0x80 | 1]) + b"\0\0\0\0x",  # masked server frame
        bytes([0x80, 1]) + b"x",  # continuation without a start
        bytes([0x89, 126, 0, 200]) + b"x" * 200,  # control frame over 125 bytes
        bytes([0xC1, 1]) + b"x",  # RSV1 without an extension
        bytes([0x83, 0]),  # reserved opcode
    ],
)
def test_reader_refuses_protocol_violations(raw: bytes) -> None:
    with pytest.raises(WSProtocolError):
        FrameReader().feed(raw)


def test_client_frames_are_masked_and_decode_back() -> None:
    from websockets.frames import Frame
    from websockets.streams import StreamReader

    for payload in (b"", b"abc", b"z" * 200, b"q" * 70_000):
        data = encode_frame(OP_BINARY, payload)
        assert data[1] & 0x80  # the mask bit
        sr = StreamReader()
        sr.feed_data(data)
        sr.feed_eof()
        gen = Frame.parse(sr.read_exact, mask=True)
        try:
            next(gen)
        except StopIteration as stop:
            frame = stop.value
        assert frame.data == payload and frame.opcode.value == OP_BINARY


def test_handshake_response_is_checked() -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example
    ok = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: classhub.json.v1"
    )
    check_handshake_response(ok, key, "classhub.json.v1")
    with pytest.raises(WSProtocolError, match="subprotocol"):
        check_handshake_response(ok, key, "classhub.msgpack.v1")
    with pytest.raises(WSProtocolError) as info:
        check_handshake_response(b"HTTP/1.1 403 Forbidden\r\n", key, None)
    assert info.value.status == 403
    with pytest.raises(WSProtocolError, match="Accept"):
        check_handshake_response(ok.replace(b"s3pP", b"AAAA"), key, None)


# accounting -----------------------------------------------------------------------------


def test_in_order_deliveries_account_exactly() -> None:
    cur = ChannelCursor(since=10)
    assert all(cur.see(s) for s in range(11, 21))
    s = cur.summary(20)
    assert (s.expected, s.received, s.lost, s.dups, s.out_of_order) == (10, 10, 0, 0, 0)


def test_gaps_duplicates_and_reordering_are_told_apart() -> None:
    cur = ChannelCursor(since=0)
    for seq in (1, 2, 4, 3, 3, 6, 1):
        cur.see(seq)
    s = cur.summary(7)
    assert s.expected == 7
    assert s.received == 5  # 1, 2, 3, 4, 6
    assert s.lost == 2  # 5 and 7
    assert s.dups == 2  # the second 3 and the second 1
    assert s.out_of_order == 1  # 3 after 4
    assert not cur.caught_up(7)


def test_replay_after_resubscribe_is_not_a_duplicate() -> None:
    cur = ChannelCursor(since=0)
    for seq in (1, 2, 5):
        cur.see(seq)
    assert cur.resume_point() == 2
    for seq in (3, 4, 5, 6):  # the server replays from since=2, 5 included
        cur.see(seq)
    s = cur.summary(6)
    assert (s.lost, s.dups, s.received) == (0, 0, 6)
    assert cur.caught_up(6)


def test_events_beyond_the_final_sequence_do_not_hide_losses() -> None:
    cur = ChannelCursor(since=0)
    for seq in (1, 3, 9):
        cur.see(seq)
    s = cur.summary(4)
    assert (s.expected, s.received, s.lost) == (4, 2, 2)


# codec, plans, figures --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["json", "msgpack"])
def test_codecs_round_trip_the_protocol_frames(name: str) -> None:
    codec = get_codec(name)
    frame = {"type": "publish", "id": "c-1", "channel": "event:1:chat", "body": {"text": "hi"}}
    data = codec.encode(frame)
    assert isinstance(data, str if name == "json" else bytes)
    raw = data.encode() if isinstance(data, str) else data
    assert codec.decode(raw) == frame
    assert codec.subprotocol == f"classhub.{name}.v1"


def test_msgpack_codec_matches_the_protocol_example() -> None:
    # docs/protocol.md section 5: the publish example, byte for byte.
    frame = {"type": "publish", "id": "c-9f2e", "channel": "event:12:chat", "body": {"text": "hi"}}
    assert get_codec("msgpack").encode(frame) == msgpack.packb(frame)
    assert len(msgpack.packb(frame)) == 60


def test_post_text_has_the_requested_size_and_carries_its_send_time() -> None:
    now = time.time_ns()
    text = post_text(200, now, "tag-1")
    assert len(text) == 200
    assert sent_at(text) == pytest.approx(now / 1e9)
    assert sent_at("hello") is None and sent_at(None) is None
    assert json.loads(json.dumps({"text": text}))["text"] == text


def _ns(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"conns_per_account": None}
    base.update(kw)
    return argparse.Namespace(**base)


def test_plans_have_the_requested_shape() -> None:
    p = build_plan(_ns(scenario="classroom", participants=300, posters=30, rate=1.0, jitter=0.5,
                       duration=20.0))
    assert (len(p.conns), p.posters, p.rooms, p.accounts_per_room) == (300, 30, 1, 300)
    p = build_plan(_ns(scenario="burst", participants=1000, window=1.0))
    assert (len(p.conns), p.posters, p.publish) == (1000, 1000, "burst")
    p = build_plan(_ns(scenario="many-rooms", rooms=4, participants=25, posters=2, rate=1.0,
                       jitter=0.2, duration=5.0))
    assert (len(p.conns), p.posters, p.rooms) == (100, 8, 4)
    assert {c.room for c in p.conns} == {0, 1, 2, 3}
    p = build_plan(_ns(scenario="idle", connections=10_000, rooms=10, duration=30.0))
    assert (len(p.conns), p.posters, p.accounts_per_room) == (10_000, 0, 50)
    # no account carries more connections than the server's default cap of 20
    per_account: dict[tuple[int, int], int] = {}
    for c in p.conns:
        per_account[(c.room, c.account)] = per_account.get((c.room, c.account), 0) + 1
    assert max(per_account.values()) == 20
    p = build_plan(_ns(scenario="reconnect-storm", participants=50, posters=5, rate=1.0,
                       jitter=0.5, duration=10.0, drop_at=3.0, backoff_base=0.1, backoff_max=2.0,
                       conns_per_account=2))
    assert (len(p.conns), p.accounts_per_room, p.drop_at) == (50, 25, 3.0)


def test_percentiles_and_peak_utilisation() -> None:
    values = np.arange(1, 1001, dtype=np.float64) / 1000.0  # 1 ms .. 1000 ms
    pct = percentiles_ms(values)
    assert pct["count"] == 1000 and pct["max"] == 1000.0
    assert pct["p50"] == pytest.approx(500.5) and pct["p99"] == pytest.approx(990.01)
    assert percentiles_ms(np.zeros(0))["p99"] is None
    # 0.25 s samples: idle, then a second at full speed
    samples = [(i * 0.25, 0.0) for i in range(5)] + [
        (1.0 + i * 0.25, i * 0.25) for i in range(1, 5)
    ]
    assert _peak_utilisation(samples) == pytest.approx(1.0)


def test_bot_accounts_shared_frames_once_per_process_and_still_per_bot() -> None:
    """Frames decoded once per process (the server sends the same bytes to all) must still
    be counted per bot: in order, duplicates, gaps and out-of-order runs."""
    import msgpack

    from loadtest.bot import Bot, BotSpec, Stats
    from loadtest.codec import get_codec, post_text
    from loadtest.tracking import ChannelCursor

    codec = get_codec("msgpack")
    stats = Stats()
    stats.measure = True

    def bot() -> Bot:
        b = Bot(
            BotSpec(0, "http://x", "c", ("event:1:chat",), "event:1:chat", False),
            codec=codec,
            origin=None,
            stats=stats,
            run_tag="t",
            body_bytes=60,
            backoff_base=0.1,
            backoff_max=1.0,
        )
        b.cursors["event:1:chat"] = ChannelCursor(0)
        return b

    def ev(seq: int) -> dict[str, object]:
        return {"channel": "event:1:chat", "seq": seq, "id": 1000 + seq, "type": "message",
                "body": {"text": post_text(60, 1_000_000_000 * seq, "t")}}

    def batch(*seqs: int) -> tuple[int, bytes]:
        if len(seqs) == 1:
            return (2, msgpack.packb({"type": "event", "event": ev(seqs[0])}))
        return (2, msgpack.packb({"type": "batch", "events": [ev(s) for s in seqs]}))

    a, b = bot(), bot()
    a._on_messages([batch(1, 2, 3)], 10.0)
    b._on_messages([batch(1, 2, 3)], 10.0)  # from the cache
    assert len(stats.frame_cache) == 1
    assert stats.deliveries == 6 and sorted(stats.lat) == [7.0, 7.0, 8.0, 8.0, 9.0, 9.0]
    a._on_messages([batch(1, 2, 3)], 11.0)  # the same frame again: three duplicates, nothing new
    assert stats.deliveries == 6 and a.cursors["event:1:chat"].dups == 3
    a._on_messages([batch(6, 7)], 12.0)  # a gap: held above it
    a._on_messages([batch(4, 5)], 12.0)  # fills it (late: out of order)
    cur = a.cursors["event:1:chat"]
    assert cur.contig == 7 and stats.deliveries == 10
    assert cur.ooo >= 1
    b._on_messages([batch(4), batch(5, 6, 7)], 13.0)
    assert b.cursors["event:1:chat"].contig == 7 and b.cursors["event:1:chat"].dups == 0
    assert stats.deliveries == 14


def test_socket_floor_tool_runs() -> None:
    import os
    import subprocess
    import sys

    if (os.cpu_count() or 1) < 2:
        import pytest

        pytest.skip("pins a writer and a reader to two cores")
    # A subprocess: the tool pins itself to a core, which must not outlive it.
    out = subprocess.run(
        [sys.executable, "-m", "loadtest.socket_floor", "--sockets", "4", "--rounds", "5"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    assert "µs of writer CPU per 300-byte write (4 sockets x 5 rounds every 2 ms" in out
    assert float(out.split()[0]) > 0


async def test_read_queue_works_reads_off_in_order_once_quiet() -> None:
    import asyncio

    from loadtest.wsclient import MAX_HELD, ReadQueue

    done: list[tuple[str, object, float]] = []

    class Client:
        def __init__(self, name: str) -> None:
            self.name = name

        def _process(self, data: bytes, now: float) -> None:
            done.append((self.name, data, now))

        def _lost(self, now: float) -> None:
            done.append((self.name, None, now))

    q = ReadQueue(asyncio.get_running_loop())
    a, b = Client("a"), Client("b")
    q.add(a, b"1", 1.0)  # type: ignore[arg-type]
    q.add(b, b"x", 2.0)  # type: ignore[arg-type]
    q.add(a, b"2", 3.0)  # type: ignore[arg-type]
    q.add(a, None, 4.0)  # type: ignore[arg-type]  # the close, after its bytes
    assert done == []  # nothing parsed while reads are coming in
    await asyncio.sleep(0.05)
    assert done == [("a", b"1", 1.0), ("b", b"x", 2.0), ("a", b"2", 3.0), ("a", None, 4.0)]
    # A burst that never goes quiet is still worked off at MAX_HELD reads.
    done.clear()
    for i in range(MAX_HELD):
        q.add(a, b"%d" % i, float(i))  # type: ignore[arg-type]
    assert len(done) == MAX_HELD and [d[1] for d in done[:2]] == [b"0", b"1"]


SPIN_THEN_WAIT = (
    "import sys, time\nt = time.process_time()\nwhile time.process_time() - t < 0.003: pass\n"
    "print('spun', flush=True)\nsys.stdin.read()"
)


def test_server_cpu_is_read_finer_than_clock_ticks() -> None:
    """psutil counts CPU in 10 ms ticks; a tiny run's server CPU read 0.0 and its
    per-10k figure was meaningless. The probe reads the process's CPU clock (ns)."""
    import subprocess
    import sys

    from loadtest.metrics import ServerProbe, process_cpu_seconds

    child = subprocess.Popen(
        [sys.executable, "-c", SPIN_THEN_WAIT],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "spun\n"
        spent = process_cpu_seconds(child.pid)
        assert spent is not None and spent > 0.003
        # Not a multiple of a clock tick: the clock is finer than psutil's 10 ms.
        samples = {round(process_cpu_seconds(child.pid) or 0.0, 9) for _ in range(3)}
        assert all(abs(s * 100 - round(s * 100)) > 1e-6 for s in samples)
        sample = ServerProbe([child.pid]).sample()
        assert sample.cpu >= spent and sample.rss > 0
    finally:
        child.kill()
        child.wait()
