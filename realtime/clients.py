"""This process's connections: indexed by user, admitted under the per-user cap, flushed
together at the end of each turn of the loop, forgotten when they end, drained on restart.

Fan-out only appends to outboxes and marks connections dirty; ``_flush`` writes what
every connection touched in this turn has waiting, once, after the turn's work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from realtime.connection import Connection
from realtime.fanout import Fanout
from realtime.limits.leases import ConnectionLeases
from realtime.metrics import HubStats
from realtime.protocol.errors import CloseCode
from realtime.roster import Roster
from storage.settings import Settings

if TYPE_CHECKING:  # Redis is imported only when REDIS_URL is set (realtime/limits/)
    from realtime.limits.redis_limits import RedisLimits

log = logging.getLogger("classhub.hub")

DRAIN_BATCH = 200
DRAIN_PAUSE_SECS = 0.05


class Clients:
    def __init__(
        self, settings: Settings, stats: HubStats, fanout: Fanout, roster: Roster,
        shared: RedisLimits | None, node: str,
    ) -> None:
        self.settings = settings
        self.stats = stats
        self.fanout = fanout
        self.roster = roster
        # With Redis, the per-user cap holds across processes; the local one is checked first.
        self.leases = (
            ConnectionLeases(
                shared, node, limit=settings.max_connections_per_user,
                lease_secs=settings.hub.conn_lease_secs,
            )
            if shared is not None else None
        )
        self.conns: set[Connection] = set()
        self.by_user: dict[int, set[Connection]] = {}
        self._dirty: list[Connection] = []
        self._flush_handle: asyncio.Handle | None = None
        self._flush_since = 0.0
        self.draining = False

    def start(self) -> None:
        if self.leases is not None:
            self.leases.start()

    async def close(self) -> None:
        if self.leases is not None:
            await self.leases.close()  # gives this process's places back at once

    # Admission.

    def can_accept(self, user_id: int) -> bool:
        """Under the cap in this process (the whole truth without Redis)."""
        return len(self.by_user.get(user_id, ())) < self.settings.max_connections_per_user

    async def admit(self, conn: Connection) -> bool:
        """Whether a new connection may stay: the local cap, then (with Redis) the cap
        across processes. Redis not answering leaves the local cap to decide."""
        user_id = conn.user_id
        if not self.can_accept(user_id):
            return False
        if self.leases is None:
            return True
        lease, granted = await self.leases.acquire(user_id)
        if not granted:
            return False
        if not self.can_accept(user_id):
            # Others of this user were admitted here while Redis answered.
            self.leases.release(user_id, lease)
            return False
        conn.lease = lease
        return True

    def add(self, conn: Connection) -> None:
        self.conns.add(conn)
        self.by_user.setdefault(conn.user_id, set()).add(conn)
        self.stats.connections += 1

    def forget(self, conn: Connection) -> None:
        if conn.lease is not None and self.leases is not None:
            self.leases.release(conn.user_id, conn.lease)
            conn.lease = None
        if conn in self.conns:
            self.conns.discard(conn)
            self.stats.connections -= 1
            users = self.by_user.get(conn.user_id)
            if users is not None:
                users.discard(conn)
                if not users:
                    del self.by_user[conn.user_id]
        self.fanout.detach_all(conn)
        self.roster.forget(conn)

    def on_shed(self, conn: Connection) -> None:
        # Called from inside fan-out loops: unhook later, never while they iterate.
        asyncio.get_running_loop().call_soon(self.forget, conn)

    # Writing: once per turn of the loop.

    def mark_dirty(self, conn: Connection) -> None:
        self._dirty.append(conn)
        if self._flush_handle is None:
            self._flush_since = time.monotonic()
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Write what every connection touched in this turn of the loop has waiting."""
        self._flush_handle = None
        dirty, self._dirty = self._dirty, []
        stats = self.stats
        frames, deliveries = stats.frames, stats.deliveries
        for conn in dirty:
            try:
                conn.flush()
            except Exception:
                log.exception("flushing a connection failed")
                conn.close(CloseCode.INTERNAL, "internal error")
        frames = stats.frames - frames
        deliveries = stats.deliveries - deliveries
        if deliveries and frames:
            # Once per flush: from the first event handed to fan-out in this turn to
            # its last byte handed to a socket (connections behind a slow socket's
            # writer are not in it), and the mean events per frame of the flush.
            stats.fanout_latency.observe(time.monotonic() - self._flush_since)
            stats.batch_size.observe(deliveries / frames)

    # Closing.

    def disconnect_user(self, user_id: int, reason: str) -> None:
        for conn in list(self.by_user.get(user_id, ())):
            conn.close(CloseCode.SESSION_ENDED, reason[:100] or "session ended")

    def close_all(self) -> None:
        self.draining = True
        for conn in list(self.conns):
            conn.close(CloseCode.RESTART, "service restart")

    async def drain(self) -> None:
        """Stop taking connections; close the open ones with 1012 in batches."""
        self.draining = True
        conns = sorted(self.conns, key=id)
        for i in range(0, len(conns), DRAIN_BATCH):
            for conn in conns[i:i + DRAIN_BATCH]:
                conn.close(CloseCode.RESTART, "service restart")
            await asyncio.sleep(DRAIN_PAUSE_SECS)
