"""One bot: a WebSocket connection that subscribes, publishes and accounts for every delivery.

A bot behaves like the web client of docs/protocol.md: it waits for ``hello``,
subscribes, answers ``ping``, publishes with a client id and retries with the
same id after ``rate_limited`` or a reconnect, and after any drop reconnects
with full-jitter backoff and resubscribes with ``since``. The hot path
(``_on_messages``) decodes each frame once and does a few comparisons per event.
"""

from __future__ import annotations

import asyncio
import random
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from typing import Any

from loadtest.codec import Codec, post_text, sent_at
from loadtest.tracking import ChannelCursor
from loadtest.wsclient import WSClient, connect
from loadtest.wsframes import WSProtocolError

# Close codes after which a real client does not reconnect on its own.
NO_RECONNECT = {4401, 1008, 1007, 1009}
HANDSHAKE_TIMEOUT_SECS = 30.0
SENT_CACHE_MAX = 200_000
FRAME_CACHE_MAX = 4096


@dataclass(slots=True)
class FrameSummary:
    """An event or batch frame, decoded once: its events, and when they are one
    channel's consecutive sequences (the usual case), that run with its send times."""

    events: Any
    channel: str | None = None
    first: int = 0
    last: int = 0
    times: list[float] | None = None


class Stats:
    """Counters shared by every bot of one generator process."""

    def __init__(self) -> None:
        self.deliveries = 0  # new events received, the publisher's own included
        self.events_seen = 0  # including duplicates
        self.frames = 0  # frames carrying events (event or batch)
        self.bytes = 0
        self.published = 0
        self.republished = 0  # same client id sent again (rate limit, reconnect)
        self.acked = 0
        self.rate_limited = 0
        self.errors: Counter[str] = Counter()
        self.connected = 0
        self.connect_failures: Counter[str] = Counter()
        self.disconnects: Counter[str] = Counter()
        self.reconnects = 0
        self.reloads = 0
        self.lat = array("d")  # seconds, publish to receipt, one per new delivery
        self.at = array("d")  # receipt time (epoch seconds) of the same delivery
        self.ack_lat = array("d")
        self.connect_secs = array("d")
        self.reconnect_secs = array("d")  # from drop to subscribed again
        self.first_publish: float | None = None
        self.last_delivery = 0.0
        self.acked_max: dict[str, int] = {}
        self.measure = False  # latencies are kept only while the run phase is on
        self.sent_cache: dict[int, float] = {}  # event id -> send time written in its text
        # The server writes the same frame bytes to every subscriber: decode each distinct
        # event/batch frame once per process (payload -> summary, see Bot._on_messages).
        self.frame_cache: dict[bytes, FrameSummary] = {}


@dataclass(frozen=True, slots=True)
class BotSpec:
    index: int
    url: str
    cookie: str
    channels: tuple[str, ...]
    publish_channel: str
    poster: bool


class Bot:
    def __init__(
        self,
        spec: BotSpec,
        *,
        codec: Codec,
        origin: str | None,
        stats: Stats,
        run_tag: str,
        body_bytes: int,
        backoff_base: float,
        backoff_max: float,
    ) -> None:
        self.spec = spec
        self.codec = codec
        self.origin = origin
        self.stats = stats
        self.run_tag = run_tag
        self.body_bytes = body_bytes
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.ws: WSClient | None = None
        self.cursors: dict[str, ChannelCursor] = {}
        self.pending: dict[str, tuple[str, str, float]] = {}  # client id -> channel, text, sent
        self.posts = 0
        self.ready = False  # subscribed, live
        self.established = False  # opened once: from now on a drop means reconnect
        self.stopping = False
        self.reconnecting = False
        self.dropped_at: float | None = None
        self._waiter: asyncio.Future[Any] | None = None
        self._wait_for: str | None = None
        self._sub_n = 0
        self._conn_n = 0

    # connecting -------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect, wait for hello, subscribe (with ``since`` when resuming). Raises on failure."""
        loop = asyncio.get_running_loop()
        self.ready = False
        self._wait_for, self._waiter = "hello", _future(loop)
        # Frames and closes of an earlier connection of this bot are ignored: only the
        # current one counts (a stray connection must not show up as duplicates).
        self._conn_n += 1
        n = self._conn_n

        def on_messages(messages: list[tuple[int, bytes]], now: float) -> None:
            if n == self._conn_n:
                self._on_messages(messages, now)

        def on_close(code: int | None, reason: str) -> None:
            if n == self._conn_n:
                self._on_close(code, reason)

        self.ws = None
        self.ws = await connect(
            self.spec.url,
            subprotocol=self.codec.subprotocol,
            cookie=self.spec.cookie,
            origin=self.origin,
            on_messages=on_messages,
            on_close=on_close,
            timeout=HANDSHAKE_TIMEOUT_SECS,
        )
        await asyncio.wait_for(self._waiter, HANDSHAKE_TIMEOUT_SECS)
        self._sub_n += 1
        channels = []
        for ch in self.spec.channels:
            cur = self.cursors.get(ch)
            channels.append(
                {"channel": ch} if cur is None else {"channel": ch, "since": cur.resume_point()}
            )
        self._wait_for, self._waiter = "subscribed", _future(loop)
        self._send({"type": "subscribe", "id": f"s{self._sub_n}", "channels": channels})
        answer = await asyncio.wait_for(self._waiter, HANDSHAKE_TIMEOUT_SECS)
        for item in answer["channels"]:
            status = item.get("status")
            if status == "denied":
                raise WSProtocolError(f"subscribe denied: {item.get('code')}")
            ch = item["channel"]
            if ch not in self.cursors:
                self.cursors[ch] = ChannelCursor(int(item["seq"]))
            elif status == "reload":
                self.stats.reloads += 1
        self._wait_for = self._waiter = None
        self.ready = True
        self.established = True
        # Publishes that were never acknowledged go out again with the same id (idempotent).
        for cid, (ch, text, _sent) in list(self.pending.items()):
            self.stats.republished += 1
            self._send_publish(cid, ch, text)

    def _fail_waiter(self, reason: str) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(WSProtocolError(reason))

    # publishing -------------------------------------------------------------------------
    def publish_new(self) -> None:
        now_ns = time.time_ns()
        self.posts += 1
        cid = f"{self.run_tag}-{self.spec.index}-{self.posts}"
        text = post_text(self.body_bytes, now_ns, cid)
        now = now_ns / 1e9
        st = self.stats
        if st.first_publish is None or now < st.first_publish:
            st.first_publish = now
        self.pending[cid] = (self.spec.publish_channel, text, now)
        st.published += 1
        if self.ready:
            self._send_publish(cid, self.spec.publish_channel, text)
        # else: sent when the connection is back (see open)

    def _send_publish(self, cid: str, channel: str, text: str) -> None:
        self._send({"type": "publish", "id": cid, "channel": channel, "body": {"text": text}})

    def _retry_publish(self, cid: str) -> None:
        item = self.pending.get(cid)
        if item is not None and self.ready:
            self.stats.republished += 1
            self._send_publish(cid, item[0], item[1])

    def _send(self, frame: dict[str, Any]) -> None:
        if self.ws is not None:
            self.ws.send(self.codec.encode(frame))

    # receiving (the hot path) -----------------------------------------------------------
    def _on_messages(self, messages: list[tuple[int, bytes]], now: float) -> None:
        st = self.stats
        decode = self.codec.decode
        cursors = self.cursors
        lats: list[float] = []
        new = seen = frames = nbytes = 0
        cache = st.frame_cache
        for _op, payload in messages:
            nbytes += len(payload)
            summary = cache.get(payload)
            if summary is None:
                summary = self._decode_events(decode(payload), now)
                if summary is None:
                    continue
                if len(cache) >= FRAME_CACHE_MAX:
                    cache.clear()
                cache[payload] = summary
            frames += 1
            events = summary.events
            seen += len(events)
            if summary.channel is not None:
                cur = cursors.get(summary.channel)
                if cur is None:
                    continue
                if summary.first == cur.contig + 1 and cur.max_seen <= cur.contig:
                    # The next run in order, nothing held above a gap: all new at once.
                    cur.contig = cur.max_seen = summary.last
                    new += len(events)
                    lats.extend([now - t for t in summary.times if t])  # type: ignore[union-attr]
                    continue
            new += self._see_each(events, now, lats)
        st.frames += frames
        st.bytes += nbytes
        st.events_seen += seen
        if new:
            st.deliveries += new
            st.last_delivery = now
            if lats and st.measure:
                st.lat.extend(lats)
                st.at.extend([now] * len(lats))

    def _decode_events(self, msg: dict[str, Any], now: float) -> FrameSummary | None:
        """The events of an ``event`` or ``batch`` frame; None for a control frame (handled)."""
        kind = msg.get("type")
        if kind == "batch":
            return self._summarise(msg["events"])
        if kind == "event":
            return self._summarise((msg["event"],))
        self._control(kind, msg, now)
        return None

    def _see_each(self, events: Any, now: float, lats: list[float]) -> int:
        """Count the events new to their channel's cursor one by one; note their latencies."""
        cursors = self.cursors
        new = 0
        for ev in events:
            cur = cursors.get(ev["channel"])
            if cur is None:
                continue
            seq = ev["seq"]
            if seq == cur.contig + 1 and seq > cur.max_seen:
                # In order with nothing held above a gap (all of `ahead` <= max_seen).
                cur.contig = cur.max_seen = seq
            elif not cur.see(seq):
                continue
            new += 1
            t = self._sent_time(ev)
            if t:
                lats.append(now - t)
        return new

    def _sent_time(self, ev: dict[str, Any]) -> float:
        """The send time written in an event's text, parsed once per event and process."""
        sent = self.stats.sent_cache
        t = sent.get(ev["id"])
        if t is None:
            t = sent_at(ev["body"].get("text")) or 0.0
            if len(sent) > SENT_CACHE_MAX:
                sent.clear()
            sent[ev["id"]] = t
        return t

    def _summarise(self, events: Any) -> FrameSummary:
        summary = FrameSummary(events)
        if events:
            channel = events[0]["channel"]
            first = events[0]["seq"]
            if all(
                ev["channel"] == channel and ev["seq"] == first + i for i, ev in enumerate(events)
            ):
                summary.channel = channel
                summary.first = first
                summary.last = first + len(events) - 1
                summary.times = [self._sent_time(ev) for ev in events]
        return summary

    def _control(self, kind: Any, msg: dict[str, Any], now: float) -> None:
        st = self.stats
        if kind == "ack":
            item = self.pending.pop(msg.get("id", ""), None)
            if item is not None:
                st.acked += 1
                if st.measure:
                    st.ack_lat.append(now - item[2])
            ch, seq = msg.get("channel"), msg.get("seq")
            if isinstance(ch, str) and isinstance(seq, int) and seq > st.acked_max.get(ch, 0):
                st.acked_max[ch] = seq
        elif kind == "ping":
            self._send({"type": "pong"})
        elif kind == "error":
            code = str(msg.get("code"))
            if code in ("rate_limited", "unavailable") and msg.get("id") in self.pending:
                st.rate_limited += code == "rate_limited"
                delay = float(msg.get("retry_after") or 0.2)
                asyncio.get_running_loop().call_later(delay, self._retry_publish, msg["id"])
            st.errors[code] += 1
        elif kind == self._wait_for and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(msg)
        # hello outside connecting, presence, pong, unsubscribed: nothing to account

    # dropping and reconnecting ----------------------------------------------------------
    def _on_close(self, code: int | None, reason: str) -> None:
        self.ready = False
        self._fail_waiter(f"closed ({code}) {reason}")
        if self.stopping or not self.established or self.reconnecting:
            return  # (a failed reconnect attempt is counted by _reconnect)
        self.stats.disconnects[str(code or 1006)] += 1
        if self.dropped_at is None:
            self.dropped_at = time.time()
        if code in NO_RECONNECT:
            return
        self.reconnecting = True
        asyncio.get_running_loop().create_task(self._reconnect())

    def drop(self) -> None:
        """Lose the network: abort the TCP connection without a closing handshake."""
        self.dropped_at = time.time()
        if self.ws is not None:
            self.ws.abort()

    async def _reconnect(self) -> None:
        attempt = 0
        try:
            while not self.stopping:
                cap = min(self.backoff_max, self.backoff_base * 2**attempt)
                await asyncio.sleep(random.uniform(0, cap))
                attempt += 1
                try:
                    await self.open()
                except (TimeoutError, OSError, WSProtocolError) as exc:
                    self.stats.connect_failures[_reason(exc)] += 1
                    if self.ws is not None:
                        self.ws.abort()
                    continue
                self.stats.reconnects += 1
                if self.dropped_at is not None:
                    self.stats.reconnect_secs.append(time.time() - self.dropped_at)
                self.dropped_at = None
                return
        finally:
            self.reconnecting = False

    def close(self) -> None:
        self.stopping = True
        if self.ws is not None:
            self.ws.close()


def _future(loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
    """A future whose failure after its waiter gave up (timeout) is not reported as unretrieved."""
    fut: asyncio.Future[Any] = loop.create_future()
    fut.add_done_callback(lambda f: f.cancelled() or f.exception())
    return fut


def _reason(exc: BaseException) -> str:
    if isinstance(exc, WSProtocolError):
        return f"http {exc.status}" if exc.status else exc.reason[:60]
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    return type(exc).__name__
