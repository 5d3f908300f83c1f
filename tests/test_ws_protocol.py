"""What ``classhub serve`` answers on the wire to odd but legal frames and to clients' faults.

Raw sockets against a real ``classhub serve`` (the embedded default), so the
WebSocket implementation under test is the one the command runs
(web/ws_protocol.py over uvicorn's websockets-sansio), and its stderr is the
log an operator reads.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.hub_support import ORIGIN, ServerProcess, World, server_env

pytestmark = pytest.mark.slow


class RawWs:
    """A WebSocket client that sends exactly the frames it is given."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, cookie: str) -> RawWs:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: classhub.json.v1\r\nOrigin: {ORIGIN}\r\n"
            f"Cookie: classhub_session={cookie}\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        ws = cls(reader, writer)
        opcode, payload = await ws.read_frame()
        assert opcode == 1 and json.loads(payload)["type"] == "hello"
        return ws

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        self.writer.write(
            bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + mask + masked
        )

    async def read_frame(self, timeout: float = 10.0) -> tuple[int, bytes]:
        head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        n = head[1] & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return head[0] & 0x0F, await self.reader.readexactly(n)

    async def close_code(self) -> tuple[int, bytes]:
        """The code and reason of the server's close frame (frames before it skipped)."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0], payload[2:]

    async def at_eof(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 10) == b""

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, World, Path]]:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'classhub.db'}"
    log = tmp_path / "server.log"
    proc = ServerProcess(server_env(db_url, tmp_path / "var"), log_file=log)
    proc.start()
    try:
        await proc.wait_ready()
        world = World(db_url)
        try:
            yield proc, world, log
        finally:
            await world.close()
    finally:
        proc.stop()


async def test_a_close_between_fragments_is_a_normal_close(
    server: tuple[ServerProcess, World, Path],
) -> None:
    """RFC 6455 5.4: control frames may come between the fragments of a message. A close
    there ends the connection normally (the echo of its code), not with 1002."""
    proc, world, _ = server
    _, cookie = await world.user("Frag")

    # A ping between fragments is answered and the message still arrives whole.
    ws = await RawWs.open(proc.port, cookie)
    try:
        ws.send_frame(0x1, b'{"type":"pi', fin=False)
        ws.send_frame(0x9, b"hi")
        ws.send_frame(0x0, b'ng","id":"p1"}')
        assert await ws.read_frame() == (0xA, b"hi")
        opcode, payload = await ws.read_frame()
        assert opcode == 0x1 and json.loads(payload) == {"type": "pong", "id": "p1"}
    finally:
        ws.close()

    ws = await RawWs.open(proc.port, cookie)
    try:
        ws.send_frame(0x1, b'{"type":', fin=False)
        ws.send_frame(0x8, struct.pack("!H", 1000) + b"bye")
        code, reason = await ws.close_code()
        assert (code, reason) == (1000, b"bye")
        assert await ws.at_eof()
    finally:
        ws.close()

    # A close with a code of its own mid-message: echoed as well.
    ws = await RawWs.open(proc.port, cookie)
    try:
        ws.send_frame(0x2, b"\x81", fin=False)
        ws.send_frame(0x0, b"\xa4", fin=False)
        ws.send_frame(0x8, struct.pack("!H", 1001))
        assert (await ws.close_code())[0] == 1001
    finally:
        ws.close()


async def _aborted_post(port: int, path: str, headers: str = "", method: str = "POST") -> None:
    """A write whose body stops short of its Content-Length, then the client is gone."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}"
        f"Content-Length: 1000\r\n\r\n{{\"email\": ".encode()
    )
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()


async def test_clients_faults_do_not_flood_the_log(
    server: tuple[ServerProcess, World, Path],
) -> None:
    """Aborted request bodies and text frames that are not UTF-8 are the clients' faults:
    no ERROR, no traceback (each used to log both); the invalid frame still gets 1007."""
    proc, world, log = server
    _, cookie = await world.user("Sloppy")
    from tests.hub_support import SECRET
    from web.auth import csrf_token_for, unsign_token

    token = unsign_token(SECRET, cookie)
    assert token is not None
    signed_in = (
        f"Cookie: classhub_session={cookie}\r\nX-CSRF-Token: {csrf_token_for(SECRET, token)}\r\n"
    )
    for _ in range(10):
        await _aborted_post(proc.port, "/api/login")  # nobody signed in
        await _aborted_post(proc.port, "/api/me/mail-preferences", signed_in, "PUT")
        await _aborted_post(proc.port, "/api/me/profile", signed_in, "PATCH")
    for payload in (b'\xff{"type":"ping"}', b'{"type":"ping","id":"\xc3\x28"}'):
        for _ in range(5):
            ws = await RawWs.open(proc.port, cookie)
            try:
                ws.send_frame(0x1, payload)
                assert (await ws.close_code())[0] == 1007
            finally:
                ws.close()
    # The server is still fine, and said nothing alarming about any of it.
    ws = await RawWs.open(proc.port, cookie)
    ws.close()
    await asyncio.sleep(0.5)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert "ERROR" not in text and "unhandled error" not in text, text[-3000:]
