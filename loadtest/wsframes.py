"""The sans-I/O core of the load tool's WebSocket client: frames and the handshake.

A plain class (bytes in, frames out, tested synchronously) and plain functions:
the opening handshake (RFC 6455 section 4.1, no extensions, one subprotocol),
unmasked server frames, fragmentation, ping/pong and close frames. Client
frames are masked with a random key (``websockets.speedups.apply_mask``, a C
helper, when available). The asyncio glue is ``loadtest/wsclient.py``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask as _apply_mask
except ImportError:  # pragma: no cover - websockets is a dependency; keep a fallback anyway

    def _apply_mask(data: bytes | bytearray | memoryview, mask: bytes | bytearray) -> bytes:
        n = len(data)
        key = int.from_bytes(bytes(mask * (n // 4 + 1))[:n], "big")
        return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_HANDSHAKE_BYTES = 64 * 1024


class WSProtocolError(Exception):
    """The server broke RFC 6455 (or refused the handshake)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class FrameReader:
    """Turns received bytes into complete messages; control frames come out as they are."""

    def __init__(self, max_message_bytes: int = 16 * 1024 * 1024) -> None:
        self._buf = bytearray()
        self._frag_op: int | None = None
        self._frag: list[bytes] = []
        self._max = max_message_bytes

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add ``data``; return the (opcode, payload) of every message it completed."""
        if not self._buf and self._frag_op is None:
            whole = _single_data_frame(data)
            if whole is not None:
                return [whole]
        buf = self._buf
        buf += data
        out: list[tuple[int, bytes]] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            header = self._header(buf, pos, end)
            if header is None:
                break
            head, length = header
            if end - pos < head + length:
                break
            b0 = buf[pos]
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            self._frame(b0 & 0x0F, bool(b0 & 0x80), payload, out)
        if pos:
            del buf[:pos]
        return out

    def _header(self, buf: bytearray, pos: int, end: int) -> tuple[int, int] | None:
        """(header bytes, payload length) of the frame at ``pos``; None until it is all here."""
        b0 = buf[pos]
        b1 = buf[pos + 1]
        if b1 & 0x80:
            raise WSProtocolError("server frames must not be masked")
        if b0 & 0x70:
            raise WSProtocolError("reserved bits set (no extension was negotiated)")
        length = b1 & 0x7F
        head = 2
        if length == 126:
            if end - pos < 4:
                return None
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            head = 4
        elif length == 127:
            if end - pos < 10:
                return None
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            head = 10
        if length > self._max:
            raise WSProtocolError(f"frame of {length} bytes exceeds the limit")
        return head, length

    def _frame(self, opcode: int, fin: bool, payload: bytes, out: list[tuple[int, bytes]]) -> None:
        """One whole frame: a control frame, a message, or a fragment of one."""
        if opcode >= 0x8:
            if not fin or len(payload) > 125:
                raise WSProtocolError("bad control frame")
            out.append((opcode, payload))
        elif opcode == OP_CONT:
            if self._frag_op is None:
                raise WSProtocolError("continuation without a first fragment")
            self._frag.append(payload)
            if fin:
                out.append((self._frag_op, b"".join(self._frag)))
                self._frag_op, self._frag = None, []
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._frag_op is not None:
                raise WSProtocolError("new message inside a fragmented one")
            if fin:
                out.append((opcode, payload))
            else:
                self._frag_op, self._frag = opcode, [payload]
        else:
            raise WSProtocolError(f"unknown opcode {opcode}")


def _single_data_frame(data: bytes) -> tuple[int, bytes] | None:
    """The fast path, the common case: ``data`` is exactly one whole unfragmented,
    unmasked text or binary frame under 64 KiB. None for anything else."""
    if len(data) < 2:
        return None
    b0 = data[0]
    b1 = data[1]
    length = b1 & 0x7F
    head = 2
    if length == 126 and len(data) >= 4:
        length = (data[2] << 8) | data[3]
        head = 4
    if (b0 & 0xF0) == 0x80 and (b0 & 0x0F) in (OP_TEXT, OP_BINARY) and length < 65536 \
            and len(data) == head + length and not b1 & 0x80:
        return (b0 & 0x0F, data[head:])
    return None


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame."""
    n = len(payload)
    head = bytearray([(0x80 if fin else 0) | opcode])
    if n < 126:
        head.append(0x80 | n)
    elif n < 65536:
        head.append(0x80 | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(0x80 | 127)
        head += n.to_bytes(8, "big")
    mask = os.urandom(4)
    return bytes(head) + mask + _apply_mask(payload, mask)


def handshake_request(
    url: str, key: str, *, subprotocol: str | None, cookie: str | None, origin: str | None
) -> bytes:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "User-Agent: classhub-loadtest",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    if origin:
        lines.append(f"Origin: {origin}")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def check_handshake_response(raw: bytes, key: str, subprotocol: str | None) -> None:
    head = raw.decode("latin-1")
    status_line, _, rest = head.partition("\r\n")
    fields = status_line.split(" ", 2)
    status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
    if status != 101:
        raise WSProtocolError(f"handshake refused: {status_line.strip()}", status)
    headers: dict[str, str] = {}
    for line in rest.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    # RFC 6455's handshake check, not a security hash
    digest = hashlib.sha1(key.encode() + GUID, usedforsecurity=False).digest()
    accept = base64.b64encode(digest).decode()
    if headers.get("sec-websocket-accept") != accept:
        raise WSProtocolError("bad Sec-WebSocket-Accept")
    if subprotocol and headers.get("sec-websocket-protocol") != subprotocol:
        raise WSProtocolError(
            f"server chose subprotocol {headers.get('sec-websocket-protocol')!r}, "
            f"not {subprotocol!r}"
        )
