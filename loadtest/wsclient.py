"""A lean WebSocket client for thousands of bots in one process.

Why not ``websockets``' client: at a million deliveries a second the load
generator must cost far less per frame than the server, and a full-featured
client spends tens of microseconds per received frame. Here the parsing core is
a plain class in ``loadtest/wsframes.py`` (bytes in, frames out, tested
synchronously) and the asyncio glue below is one ``Protocol`` that timestamps
each read once and, once the sockets are quiet (``ReadQueue``), hands every
complete message of that read to the bot in one call.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import weakref
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

from loadtest.wsframes import (
    MAX_HANDSHAKE_BYTES,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    WSProtocolError,
    check_handshake_response,
    encode_frame,
    handshake_request,
)

OnMessages = Callable[[list[tuple[int, bytes]], float], None]
OnClose = Callable[[int | None, str], None]

# Deferred reading (see ReadQueue): how long the sockets must have been quiet before the
# queued reads are worked off, the longest a read waits, the most reads held, and how many
# are worked off before the loop polls the sockets again.
QUIET_SECS = 0.001
MAX_DEFER_SECS = 0.05
MAX_HELD = 4096
SLICE = 64


class ReadQueue:
    """Reads timestamped at once, parsed and accounted for when the sockets are quiet.

    One generator core stands in for hundreds of clients. A class's post reaches
    300 of them within a few milliseconds, and if each read were parsed and
    accounted for (~5 µs of Python) before the next socket is read, the 300th
    socket would be read late because of the generator's own bookkeeping, and
    that delay would be reported as the server's latency. So a read only records
    its time and bytes (the receipt time of every message in it); the queue is
    worked off in arrival order, a slice at a time, once no read has come for
    ``QUIET_SECS`` (or a read has waited ``MAX_DEFER_SECS``, or ``MAX_HELD`` reads
    wait, as in a burst that never goes quiet). Per connection the order of
    bytes, messages and the close is unchanged; pings are answered a few
    milliseconds later, far inside any heartbeat timeout.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[tuple[WSClient, bytes | None, float]] = deque()
        self._last = 0.0
        self._armed = False

    def add(self, client: WSClient, data: bytes | None, now: float) -> None:
        items = self._items
        items.append((client, data, now))
        self._last = now
        if len(items) >= MAX_HELD:
            self._work(len(items))
        elif not self._armed:
            self._armed = True
            self._loop.call_later(QUIET_SECS, self._check)

    def _check(self) -> None:
        items = self._items
        if not items:
            self._armed = False
            return
        now = time.time()
        if now - self._last < QUIET_SECS and now - items[0][2] < MAX_DEFER_SECS:
            self._loop.call_later(QUIET_SECS, self._check)
            return
        self._work(SLICE)
        if items:
            self._loop.call_soon(self._check)  # let the sockets be polled between slices
        else:
            self._armed = False

    def _work(self, n: int) -> None:
        items = self._items
        for _ in range(min(n, len(items))):
            client, data, now = items.popleft()
            if data is None:
                client._lost(now)
            else:
                client._process(data, now)

    def flush(self) -> None:
        self._work(len(self._items))


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadQueue] = (
    weakref.WeakKeyDictionary()
)


def read_queue() -> ReadQueue:
    loop = asyncio.get_running_loop()
    q = _queues.get(loop)
    if q is None:
        q = _queues[loop] = ReadQueue(loop)
    return q


class WSClient(asyncio.Protocol):
    """One connection. ``on_messages(messages, received_at)`` gets every data message of a read."""

    def __init__(
        self,
        url: str,
        *,
        subprotocol: str | None,
        cookie: str | None,
        origin: str | None,
        on_messages: OnMessages,
        on_close: OnClose,
    ) -> None:
        self._url = url
        self._subprotocol = subprotocol
        self._cookie = cookie
        self._origin = origin
        self._on_messages = on_messages
        self._on_close = on_close
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._head = bytearray()
        self._reader = FrameReader()
        self._transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A handshake that fails after connect() gave up waiting must not log "never retrieved".
        self.opened.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.closed = False
        self.close_code: int | None = None
        self._lost_exc: Exception | None = None
        self._queue = read_queue()

    # asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but behave as one)
        self._transport = t = transport  # type: ignore[assignment]
        t.write(  # type: ignore[attr-defined]
            handshake_request(
                self._url,
                self._key,
                subprotocol=self._subprotocol,
                cookie=self._cookie,
                origin=self._origin,
            )
        )

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if self.opened.done():
            self._queue.add(self, data, now)
            return
        self._process(data, now)

    def _process(self, data: bytes, now: float) -> None:
        if not self.opened.done():
            data = self._handshake(data)
            if not data:
                return
        try:
            frames = self._reader.feed(data)
        except WSProtocolError as exc:
            self._fail(exc)
            return
        messages = frames
        if any(op >= 0x8 for op, _ in frames):
            messages = []
            for op, payload in frames:
                if op == OP_PING:
                    self._write(encode_frame(OP_PONG, payload))
                elif op == OP_CLOSE:
                    self._handle_close(payload)
                elif op != OP_PONG:
                    messages.append((op, payload))
        if messages:
            self._on_messages(messages, now)

    def _handshake(self, data: bytes) -> bytes:
        """Collect the server's handshake answer; once it is checked, the bytes after it."""
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HANDSHAKE_BYTES:
                self._fail(WSProtocolError("handshake response too long"))
            return b""
        try:
            check_handshake_response(bytes(self._head[:end]), self._key, self._subprotocol)
        except WSProtocolError as exc:
            self._fail(exc)
            return b""
        rest = bytes(self._head[end + 4 :])
        self._head = bytearray()
        self.opened.set_result(None)
        return rest

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost_exc = exc
        if self.opened.done():
            self._queue.add(self, None, time.time())  # after the bytes read before it
            return
        self._lost(time.time())

    def _lost(self, _now: float) -> None:
        exc = self._lost_exc
        if not self.opened.done():
            self.opened.set_exception(
                WSProtocolError(f"connection lost during handshake: {exc or 'EOF'}")
            )
        if not self.closed:
            self.closed = True
            self._on_close(self.close_code, str(exc) if exc else "connection closed")

    # sending ----------------------------------------------------------------------------
    def send(self, payload: bytes | str) -> None:
        if isinstance(payload, str):
            self._write(encode_frame(OP_TEXT, payload.encode()))
        else:
            self._write(encode_frame(OP_BINARY, payload))

    def close(self, code: int = 1000) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._write(encode_frame(OP_CLOSE, code.to_bytes(2, "big")))
            self._transport.close()

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a lost network)."""
        if self._transport is not None:
            self._transport.abort()

    @property
    def writable(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _handle_close(self, payload: bytes) -> None:
        self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        if self._transport is not None and not self._transport.is_closing():
            self._write(encode_frame(OP_CLOSE, payload[:2]))
            self._transport.close()

    def _fail(self, exc: WSProtocolError) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self._transport is not None:
            self._transport.abort()


async def connect(
    url: str,
    *,
    subprotocol: str | None,
    cookie: str | None,
    origin: str | None,
    on_messages: OnMessages,
    on_close: OnClose,
    timeout: float = 10.0,
) -> WSClient:
    """Open a connection and complete the handshake (raises OSError or WSProtocolError)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"not a ws:// URL: {url}")
    ssl = parts.scheme == "wss"
    port = parts.port or (443 if ssl else 80)
    loop = asyncio.get_running_loop()
    _transport, proto = await asyncio.wait_for(
        loop.create_connection(
            lambda: WSClient(
                url,
                subprotocol=subprotocol,
                cookie=cookie,
                origin=origin,
                on_messages=on_messages,
                on_close=on_close,
            ),
            parts.hostname or "127.0.0.1",
            port,
            ssl=ssl or None,
        ),
        timeout,
    )
    try:
        await asyncio.wait_for(proto.opened, timeout)
    except BaseException:
        proto.abort()  # never leave a half-open connection behind a timed-out handshake
        raise
    return proto
