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
import time
from collections import deque
from typing import Any

from realtime.connection import Connection, Sub
from realtime.metrics import HubStats
from realtime.protocol.codec import WireEvent, shared_frame
from realtime.protocol.recovery import SubState
from realtime.protocol.sequencer import Sequencer

# Direct writes per turn of the loop in one feed's fan-out (~0.6 ms of writes here):
# between chunks the loop reads sockets and the store's answers.
FANOUT_CHUNK = 64


class _Job:
    """One delivery's direct writes still to do."""

    __slots__ = ("events", "since", "targets")

    def __init__(self, events: list[WireEvent], targets: list[list[Any] | None]) -> None:
        self.events = events
        # Per encoding (JSON, msgpack): None, or [connections left: {conn: transport},
        # codec, the frame (None: to be built), frames in it].
        self.targets = targets
        self.since = time.monotonic()

    def left(self) -> bool:
        return any(t is not None and t[0] for t in self.targets)


def _to_outbox(
    conn: Connection, transport: Any, remaining: dict[Connection, Any], events: list[WireEvent]
) -> None:
    """A fan-out job's connection whose socket is closing, or did not take everything last
    time: the outbox path (which waits for the socket and sheds a stuck client). Leaving
    ``direct`` hands it this job's events and those of any later job, in order."""
    remaining[conn] = transport
    conn.leave_direct()
    if remaining.pop(conn, None) is not None:  # it was not direct after all
        for ev in events:
            conn.push_event(ev)


class Feed:
    __slots__ = (
        "channel", "direct", "early", "gap_timer", "idle_since", "jobs", "live", "queued", "ready",
        "resume_scheduled", "seq", "slow", "stats",
    )

    def __init__(self, channel: str, stats: HubStats) -> None:
        self.channel = channel
        self.stats = stats
        self.seq: Sequencer[WireEvent] | None = None
        self.early: list[WireEvent] = []
        # Subscribers past recovery get events without any per-subscriber check. Each
        # is in exactly one of two places: ``direct`` (per encoding, JSON then
        # msgpack: the connection's transport, for connections with nothing waiting
        # whose socket takes bytes) or ``queued`` (everyone else: events go to the
        # outbox). Connections move between them themselves (Connection.enter_direct /
        # leave_direct), so fan-out touches nothing of a subscriber but its transport.
        self.live: set[Connection] = set()
        self.direct: tuple[dict[Connection, Any], dict[Connection, Any]] = ({}, {})
        self.queued: set[Connection] = set()
        self.jobs: deque[_Job] = deque()
        self.resume_scheduled = False
        # Subscribers still replaying or catching up.
        self.slow: dict[Connection, Sub] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.gap_timer: asyncio.TimerHandle | None = None
        self.idle_since: float | None = None

    @property
    def empty(self) -> bool:
        return not self.live and not self.slow

    def make_ready(self, head: int) -> list[WireEvent]:
        """Start at the store's head when the broker subscription was in place.

        Returns the events that can be delivered now."""
        self.seq = Sequencer(head)
        early, self.early = self.early, []
        out = self.seq.fill(early)
        if not self.ready.done():
            self.ready.set_result(None)
        return out

    def deliver(self, events: list[WireEvent]) -> None:
        """Hand in-order events to every subscriber: the same bytes to all.

        Subscribers with something waiting (``queued``) get the events in their
        outbox, in order behind what waits there, flushed at the end of this turn
        of the loop; subscribers still recovering get them through their recovery.
        Everyone in ``direct`` gets the shared frame of these events (one event
        frame, or one batch frame for several) written straight to the socket: one
        ``transport.write`` and nothing else per subscriber.

        The direct writes are a job, taken ``FANOUT_CHUNK`` sockets at a time: the
        first chunk at once, the rest in later turns of the loop, so that a post
        arriving during a big fan-out is read and on its way to the store instead of
        waiting for the last socket (its commit overlaps the fan-out). Jobs of a feed
        run in order; events arriving meanwhile join the frame of whoever a job has
        not reached yet; a connection that leaves ``direct`` while a job still has it
        gets that job's events in its outbox at that moment (``to_queued``). Per
        connection and channel the order is the sequence order, always.
        """
        if self.queued:
            for conn in self.queued:
                for ev in events:
                    conn.push_event(ev)
        if self.direct[0] or self.direct[1]:
            # Before the recovering ones below can join ``direct``: they get these events
            # through their recovery.
            self._add_job(events)
        if self.slow:
            for conn, sub in list(self.slow.items()):
                for ev in events:
                    for out in sub.recovery.offer(ev):
                        conn.push_event(out)
                if sub.recovery.state is SubState.LIVE:
                    del self.slow[conn]
                    self._add_live(conn)
        if self.jobs and not self.resume_scheduled:
            self._run_jobs()

    def _add_job(self, events: list[WireEvent]) -> None:
        """Queue the direct writes of ``events``.

        A connection is waiting in at most one job. Whoever a job has not reached
        yet gets new events in that job's frame (one write for all of them); a new
        job is only for the rest of ``direct`` (already written, or joined since,
        with the older events in the outbox then).
        """
        under_way = [job for job in self.jobs if job.left()]
        for job in under_way:
            job.events = job.events + events
            for target in job.targets:
                if target is not None and target[0]:
                    target[2] = None  # rebuilt when the job runs next
        targets: list[list[Any] | None] = [None, None]
        for slot, direct in enumerate(self.direct):
            if not direct:
                continue
            waiting = [t[0] for job in under_way if (t := job.targets[slot]) is not None and t[0]]
            if waiting:
                rest = {c: tr for c, tr in direct.items() if not any(c in w for w in waiting)}
            else:
                rest = direct.copy()
            if rest:
                targets[slot] = [rest, next(iter(direct)).codec, None, 0]
        if targets[0] is not None or targets[1] is not None:
            self.jobs.append(_Job(events, targets))

    def _run_jobs(self) -> None:
        """Write up to ``FANOUT_CHUNK`` sockets of the oldest jobs; come back for the rest."""
        self.resume_scheduled = False
        jobs = self.jobs
        budget = FANOUT_CHUNK
        stats = self.stats
        while jobs and budget > 0:
            job = jobs[0]
            nevents = len(job.events)
            for target in job.targets:
                if target is None:
                    continue
                remaining = target[0]
                if not remaining:
                    continue
                if target[2] is None:
                    target[2], target[3] = shared_frame(job.events, target[1])
                data = target[2]
                written = 0
                while remaining and budget > 0:
                    conn, transport = remaining.popitem()
                    budget -= 1
                    if transport.is_closing() or transport.get_write_buffer_size():
                        # The rare path in its own function; the usual one makes no call.
                        _to_outbox(conn, transport, remaining, job.events)
                        continue
                    transport.write(data)
                    written += 1
                if written:
                    per_write = target[3]
                    stats.frames += written * per_write
                    stats.raw_frames += written * per_write
                    stats.deliveries += written * nevents
                    stats.direct_writes += written
            if job.left():
                break
            jobs.popleft()
            stats.fanout_latency.observe(time.monotonic() - job.since)
        if jobs:
            self.resume_scheduled = True
            asyncio.get_running_loop().call_soon(self._run_jobs)

    def _add_live(self, conn: Connection) -> None:
        if conn in self.live:
            return
        self.live.add(conn)
        conn.live_feeds.append(self)
        if conn.direct:
            self.direct[conn.binary][conn] = conn.transport
        else:
            self.queued.add(conn)

    def to_direct(self, conn: Connection) -> None:
        self.queued.discard(conn)
        self.direct[conn.binary][conn] = conn.transport

    def to_queued(self, conn: Connection) -> None:
        self.direct[conn.binary].pop(conn, None)
        self.queued.add(conn)
        for job in self.jobs:  # it waits in one job at most
            target = job.targets[conn.binary]
            if target is not None and target[0].pop(conn, None) is not None:
                for ev in job.events:
                    conn.push_event(ev)

    def promote(self, conn: Connection, sub: Sub) -> None:
        if sub.recovery.state is SubState.LIVE and self.slow.get(conn) is sub:
            del self.slow[conn]
            self._add_live(conn)

    def detach(self, conn: Connection) -> None:
        if conn in self.live:
            self.live.discard(conn)
            self.direct[conn.binary].pop(conn, None)
            self.queued.discard(conn)
            conn.live_feeds.remove(self)
            for job in self.jobs:
                target = job.targets[conn.binary]
                if target is not None:
                    target[0].pop(conn, None)
        self.slow.pop(conn, None)
