"""The clients of ``python -m loadtest board-burst`` (``loadtest/board_burst.py``).

``HttpConn`` is one keep-alive HTTP/1.1 connection in a few lines over
``httptools`` rather than an HTTP library: with a thousand requests in flight a
general client costs the generator more than the server's work (httpx queues
them in its pool), and the figure would measure the generator. ``Subscriber``
is a WebSocket client on the board channel that records every event's seq and
arrival.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import httptools

from loadtest.wsclient import connect
from loadtest.wsframes import WSProtocolError
from realtime.protocol.codec import JSON_SUBPROTOCOL

HANDSHAKE_TIMEOUT_SECS = 15.0


class _Answer:
    """httptools callbacks for one response."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.done = False

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.done = True


class HttpConn:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            await self.open()
        if self.reader is None or self.writer is None:
            raise RuntimeError("open() left no connection")
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
        ]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        while not answer.done:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            parser.feed_data(data)
        return parser.get_status_code(), bytes(answer.body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def bot_headers(bot: dict[str, Any], origin: str, json_body: bool = False) -> dict[str, str]:
    """The signed-in bot's cookie and CSRF token, and the Origin the server checks."""
    h = {"Cookie": bot["cookie"], "X-CSRF-Token": bot["csrf"], "Origin": origin}
    if json_body:
        h["Content-Type"] = "application/json"
    return h


class Subscriber:
    """A WebSocket client on the board channel that records every event's seq and arrival."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.arrivals: list[float] = []
        self.note_ids: list[int] = []
        self.waiter: asyncio.Future[dict[str, Any]] | None = None
        self.wait_for = "hello"
        self.ws: Any = None
        self.closed: str | None = None

    def on_messages(self, messages: list[tuple[int, bytes]], now: float) -> None:
        for _op, payload in messages:
            msg = json.loads(payload)
            kind = msg.get("type")
            events = msg["events"] if kind == "batch" else [msg["event"]] if kind == "event" else []
            for ev in events:
                self.seqs.append(ev["seq"])
                self.arrivals.append(now)
                self.note_ids.append(((ev.get("body") or {}).get("note") or {}).get("id", 0))
            if kind == "ping":
                self.ws.send(json.dumps({"type": "pong"}))
            elif kind == self.wait_for and self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(msg)

    def on_close(self, code: int | None, reason: str) -> None:
        self.closed = f"{code} {reason}"
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(WSProtocolError(f"closed: {code} {reason}"))

    async def open(
        self, ws_url: str, bot: dict[str, Any], origin: str, channel: str, since: int
    ) -> None:
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.ws = await connect(
            ws_url,
            subprotocol=JSON_SUBPROTOCOL,
            cookie=bot["cookie"],
            origin=origin,
            on_messages=self.on_messages,
            on_close=self.on_close,
            timeout=HANDSHAKE_TIMEOUT_SECS,
        )
        await asyncio.wait_for(self.waiter, HANDSHAKE_TIMEOUT_SECS)
        self.wait_for, self.waiter = "subscribed", loop.create_future()
        self.ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "id": "s1",
                    "channels": [{"channel": channel, "since": since}],
                }
            )
        )
        answer = await asyncio.wait_for(self.waiter, HANDSHAKE_TIMEOUT_SECS)
        status = answer["channels"][0].get("status")
        if status != "recovered":
            raise WSProtocolError(f"subscribe answered {status}")
