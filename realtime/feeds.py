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

from realtime.codec import WireEvent
from realtime.connection import Connection, Sub
from realtime.recovery import SubState
from realtime.sequencer import Sequencer


class Feed:
    __slots__ = ("channel", "early", "gap_timer", "idle_since", "live", "ready", "seq", "slow")

    def __init__(self, channel: str) -> None:
        self.channel = channel
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
        """Hand in-order events to every subscriber: the same WireEvent (same bytes) to all."""
        live = self.live
        for ev in events:
            for conn in live:
                conn.push_event(ev)
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
