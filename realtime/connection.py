"""One WebSocket connection: its outbox, its writer task, its subscriptions.

The reader side is the ASGI task itself (``Hub.serve``, ``Session.read_loop``); this class is the
state both sides share plus the writer. Fan-out only appends to the outbox and
wakes the writer; the writer joins everything waiting into as few frames as
possible and hands them to the server. A connection whose outbox overflows is
shed (4008) without anyone else waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from realtime.metrics import HubStats
from realtime.protocol.codec import Codec, Frame, Wire, WireEvent
from realtime.protocol.errors import CloseCode
from realtime.protocol.outbox import Outbox
from realtime.protocol.recovery import Recovery
from realtime.protocol.wsframe import ws_frame
from realtime.transport import raw_socket
from storage.models import User

log = logging.getLogger("classhub.hub")

# How long a close frame may wait behind a full socket before we stop waiting.
CLOSE_SEND_TIMEOUT_SECS = 3.0

Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(eq=False, slots=True)
class Sub:
    channel: str
    recovery: Recovery[WireEvent] = field(default_factory=Recovery)
    event_id: int | None = None  # set for event:<id>:* channels (presence)
    # False for an admin's review of an event they take no part in: a reviewer is not
    # attendance, so the subscription keeps them out of the event's "Here now".
    attends: bool = True


class Connection:
    # Slots: with 10,000 connections an instance dict is ~1 KB each of nothing.
    __slots__ = (
        "_binary", "_on_dirty", "_on_shed", "_send", "_sending", "_wake", "_writer", "bad_frames",
        "binary", "closing", "codec", "direct", "dirty", "event_refs", "ip", "last_recv", "lease",
        "live_feeds", "may_publish", "name", "outbox", "pinged", "proto", "raw", "reader_task",
        "session_hash", "stats", "subs", "transport", "user", "user_id", "watching",
    )

    def __init__(
        self,
        *,
        user: User,
        session_hash: str,
        codec: Codec,
        send: Send,
        outbox_limit: int,
        stats: HubStats,
        on_shed: Callable[[Connection], None],
        on_dirty: Callable[[Connection], None],
        ip: str = "",
    ) -> None:
        self.ip = ip  # for the audit rows of an admin's reads
        self.user = user
        self.user_id: int = user.id
        self.name: str = user.display_name
        self.session_hash = session_hash
        self.codec = codec
        self._send = send
        self._binary = codec.binary
        self.outbox = Outbox(codec, outbox_limit)
        self.stats = stats
        self._on_shed = on_shed
        self.subs: dict[str, Sub] = {}
        self.event_refs: dict[int, int] = {}  # event id -> subscriptions of that event
        self.watching: set[int] = set()  # events whose presence this connection follows
        self.may_publish: dict[str, bool] = {}
        self.last_recv = time.monotonic()
        self.pinged = False
        self.bad_frames = 0
        self.closing = False
        self.reader_task: asyncio.Task[Any] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._sending = False
        self._on_dirty = on_dirty
        self.dirty = False
        self.raw = raw_socket(send)
        # For fan-out's direct path (realtime/feeds.py): the server's protocol object
        # and its transport, or None when frames must go through ASGI send.
        self.proto = self.raw.proto if self.raw is not None else None
        self.transport = self.proto.transport if self.proto is not None else None
        self.binary = 1 if codec.binary else 0
        # Fan-out writes straight to this connection's transport (it is in the ``direct``
        # set of each of its live feeds) exactly while ``direct`` is true: nothing waits in
        # the outbox, no flush is pending, no writer is stuck, not closing.
        self.direct = False
        # The Feeds where this connection is live (a few: a list is smallest).
        self.live_feeds: list[Any] = []
        # Its place under the per-user cap in Redis (realtime/limits/leases.py).
        self.lease: str | None = None

    # Fan-out side (synchronous: never awaits, never blocks on this client).

    # The bound applies while the writer is stuck in a send (the socket's buffers are
    # full): that is a client not keeping up. An outbox filled by one big group commit
    # while the writer is merely waiting to run is taken in one go on its next turn.

    def enter_direct(self) -> None:
        if self.direct or self.closing or self.raw is None:
            return
        self.direct = True
        for feed in self.live_feeds:
            feed.to_direct(self)

    def leave_direct(self) -> None:
        if self.direct:
            self.direct = False
            for feed in self.live_feeds:
                feed.to_queued(self)

    def push_event(self, ev: WireEvent) -> None:
        # The hot path of a subscriber that is not written to directly: kept flat on purpose.
        if self.closing:
            return
        if self.direct:
            self.leave_direct()
        box = self.outbox
        box.items.append(ev)
        box.size += 1
        if box.size > box.limit and self._sending:
            self.shed()
            return
        if not self.dirty:
            self.dirty = True
            self._on_dirty(self)

    def push(self, frame: Frame) -> None:
        if self.closing:
            return
        if self.direct:
            self.leave_direct()
        if not self.outbox.push_frame(self.codec.encode(frame)) and self._sending:
            self.shed()
            return
        if not self.dirty:
            # Everything pushed in this turn of the event loop goes out together at its end.
            self.dirty = True
            self._on_dirty(self)

    def push_now(self, frame: Frame) -> None:
        """A control frame (a heartbeat ping): straight to the socket when nothing waits
        there, else through the outbox like ``push``. Order is kept either way: a
        connection on the direct path has nothing queued."""
        t, raw = self.transport, self.raw
        if self.direct and t is not None and raw is not None and not t.is_closing() \
                and not t.get_write_buffer_size():
            raw.write(ws_frame(self.codec.encode(frame), self._binary))
            self.stats.frames += 1
            self.stats.raw_frames += 1
            return
        self.push(frame)

    def flush(self) -> None:
        """Write what is queued: straight to the socket if it takes bytes now, else via the writer.

        Statistics per write are plain counters; the hub turns them into the batch-size
        and fan-out-latency histograms once per flush, not once per connection.
        """
        self.dirty = False
        if self.closing:
            return
        box = self.outbox
        items = box.items
        if not items:
            return
        raw = self.raw
        if raw is not None and not self._sending and raw.ready():
            stats = self.stats
            if len(items) == 1 and type(items[0]) is WireEvent:
                # The common case in a live class: one new event, its shared frame bytes.
                box.items = []
                box.size = 0
                raw.write(items[0].ws_frame(self.codec))
                stats.frames += 1
                stats.raw_frames += 1
                stats.deliveries += 1
            else:
                data, frames, events = box.take_ws_frames()
                raw.write(data)
                stats.frames += frames
                stats.raw_frames += frames
                stats.deliveries += events
            self.enter_direct()
            return
        if self._writer is None:
            # Most connections never need their own task: only once a socket is slow.
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
            return
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set_result(None)

    def shed(self) -> None:
        self.stats.slow_consumer_closes += 1
        self.close(CloseCode.SLOW_CONSUMER, "slow consumer")
        self._on_shed(self)

    # Writer side.

    def start(self) -> None:
        self.reader_task = asyncio.current_task()
        if self.raw is None:
            self._writer = asyncio.create_task(self._write_loop())

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        stats = self.stats
        binary = self._binary
        send = self._send
        try:
            while True:
                if not self.outbox:
                    self._wake = loop.create_future()
                    await self._wake
                if not self.outbox:
                    continue
                frames, events = self.outbox.take_frames()
                stats.deliveries += events
                self._sending = True
                for frame in frames:
                    stats.frames += 1
                    if binary:
                        await send({"type": "websocket.send", "bytes": frame})
                    else:
                        await send({"type": "websocket.send", "text": frame})
                self._sending = False
                if not self.outbox and not self.dirty:
                    self.enter_direct()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the peer went away mid-send
            log.debug("writer of user %s stopped: %r", self.user_id, exc)
            self.leave_direct()
            self.closing = True
            self._cancel_reader()

    def close(self, code: int, reason: str) -> None:
        """Close with ``code`` (docs/protocol.md section 3); idempotent, never waits."""
        if self.closing:
            return
        self.leave_direct()
        self.closing = True
        self.stats.closes[code] = self.stats.closes.get(code, 0) + 1
        self.outbox.items = []
        asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(BaseException):  # cancelled, or the peer was gone already
                await self._writer
        try:
            await asyncio.wait_for(
                self._send({"type": "websocket.close", "code": code, "reason": reason}),
                CLOSE_SEND_TIMEOUT_SECS,
            )
        except Exception:  # noqa: BLE001 - timeout or gone: drop the socket, stop reading
            if self.raw is not None:
                # Its buffers will never drain: abort rather than let close() wait on them.
                self.raw.proto.transport.abort()
            self._cancel_reader()

    def _cancel_reader(self) -> None:
        task = self.reader_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()

    async def stop(self) -> None:
        """After the reader ended: stop the writer."""
        self.leave_direct()
        self.closing = True
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(BaseException):  # cancelled, or the peer was gone already
                await self._writer

    def __repr__(self) -> str:
        return f"<Connection user={self.user_id} subs={len(self.subs)}>"


def wire_bytes(frame: Wire) -> int:
    return len(frame)
