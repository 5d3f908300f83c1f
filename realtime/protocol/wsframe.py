"""The bytes of a server's WebSocket frame (RFC 6455 section 5.2), built without a socket.

Frames from a server are not masked, so the bytes of a frame are the same for
every connection: an event's frame is built once and the same bytes go to a
thousand sockets (realtime/transport.py writes them).
"""

from __future__ import annotations

import struct


def ws_frame(payload: bytes | str, binary: bool) -> bytes:
    """One unfragmented, unmasked server frame (RFC 6455 section 5.2) around an encoded
    frame (JSON text or msgpack bytes)."""
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x82 if binary else 0x81
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 0x10000:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload
