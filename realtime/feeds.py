"""A channel's live feed at one process: the one broker subscription all local subscribers share.

Subscription bookkeeping is synchronous: ``attach`` finds or creates the feed
and adds the subscriber without awaiting, so two clients joining an empty
channel at the same moment can never overwrite each other (the race seen in
broadcaster). The feed becomes ready once the broker confirmed the
subscription and the store told us where the channel stands; events arriving
before that wait in ``early``.
"""

from __future__ import annotations

import asyncio

from realtime.codec import WireEvent, shared_frame
from realtime.connection import Connection, Sub
from realtime.metrics import HubStats
from realtime.rawsend import OPEN
from realtime.recovery import SubState
from realtime.sequencer import Sequencer


class Feed:
    __slots__ = ("channel", "early", "gap_timer", "idle_since", "live", "ready", "seq", "slow", "stats")

    def __init__(self, channel: str, stats: HubStats) -> None:
        self.channel = channel
        self.stats = stats
        self.seq: Sequencer[WireEvent] | None = None
        self.early: list[WireEvent] = []
        # Subscribers past recovery get events without any per-subscriber check.
        self.live: set[Connection] = set()
        # Subscribers still replaying or catching up.
        self.slow: dict[Connection, Sub] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.gap_timer: asyncio.TimerHandle | None = None
        self.idle_since: float | None = None

    @property
    def empty(self) -> bool:
        return not self.live and not self.slow

    def make_ready(self, head: int) -> list[WireEvent]:
        """The store's head when the broker subscription was in place; returns deliverable events."""
        self.seq = Sequencer(head)
        early, self.early = self.early, []
        out = self.seq.fill(early)
        if not self.ready.done():
            self.ready.set_result(None)
        return out

    def deliver(self, events: list[WireEvent]) -> None:
        """Hand in-order events to every subscriber: the same bytes to all.

        A live subscriber with nothing else waiting whose socket takes bytes now gets
        the shared frame of these events (one event frame, or one batch frame for
        several) written at once: one ``transport.write`` and nothing else per
        subscriber. Anyone else (something queued before, a slow socket, not on
        uvicorn's sansio protocol) gets the events in its outbox, in order behind
        what waits there, flushed at the end of this turn of the loop.
        """
        live = self.live
        if live:
            frames: list[tuple[bytes, int] | None] = [None, None]  # per encoding, on first use
            written = per_write = 0
            for conn in live:
                p = conn.proto
                if (
                    p is None or conn.dirty or conn.closing or conn._sending or conn.outbox.items or p.close_sent
                    or p.disconnected or not p.writable.is_set() or p.conn.state is not OPEN
                    or p.transport.is_closing()
                ):
                    for ev in events:
                        conn.push_event(ev)
                    continue
                slot = conn.binary
                frame = frames[slot]
                if frame is None:
                    frame = frames[slot] = shared_frame(events, conn.codec)
                conn.write(frame[0])
                per_write = frame[1]
                written += 1
            if written:
                stats = self.stats
                stats.frames += written * per_write
                stats.raw_frames += written * per_write
                stats.deliveries += written * len(events)
                stats.direct_writes += written
        if self.slow:
            for conn, sub in list(self.slow.items()):
                for ev in events:
                    for out in sub.recovery.offer(ev):
                        conn.push_event(out)
                if sub.recovery.state is SubState.LIVE:
                    del self.slow[conn]
                    live.add(conn)

    def promote(self, conn: Connection, sub: Sub) -> None:
        if sub.recovery.state is SubState.LIVE and self.slow.get(conn) is sub:
            del self.slow[conn]
            self.live.add(conn)

    def detach(self, conn: Connection) -> None:
        self.live.discard(conn)
        self.slow.pop(conn, None)
