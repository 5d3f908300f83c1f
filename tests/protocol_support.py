"""Shared pieces of the protocol core tests (test_protocol_*.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from storage.repo.channel_log import StoredEvent


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


def ws_frames(data: bytes) -> list[tuple[int, bytes]]:
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
