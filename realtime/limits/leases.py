"""The per-user connection cap across processes: leases in Redis, kept by one task per process.

Each open WebSocket holds a lease: its id in the user's sorted set, scored by
the lease's expiry (realtime/limits/scripts.py). A new connection is admitted
by one atomic script (drop expired leases, count, add). This process renews
the leases of all its connections in one pipelined round trip every third of
``lease_secs`` and removes a connection's lease as soon as it closes, so a
closed tab frees its place at once and a crashed process's connections stop
counting within ``lease_secs``.

Renewals and removals go out from one task, in order, so a renewal never
brings back a lease that was removed after it (a lease removed while its
connection's admission was still in flight is the exception: it expires).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from storage.settings import HubTuning

if TYPE_CHECKING:
    from realtime.limits.redis_limits import RedisLimits

log = logging.getLogger("classhub.limits")

# A crashed process's connections stop counting after at most this long
# (CLASSHUB_CONN_LEASE_SECS, storage/settings.py).
CONN_LEASE_SECS = HubTuning.conn_lease_secs


class ConnectionLeases:
    def __init__(
        self, limits: RedisLimits, node: str, *, limit: int, lease_secs: float = CONN_LEASE_SECS
    ) -> None:
        self.limits = limits
        self.node = node
        self.limit = limit
        self.lease_secs = lease_secs
        # Renewed three times per lease: two lost renewals in a row still leave it alive.
        self.refresh_secs = lease_secs / 3
        self.held: dict[int, set[str]] = {}
        self._released: list[tuple[int, str]] = []
        self._wake = asyncio.Event()
        self._count = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep(), name="connection-leases")

    async def acquire(self, user_id: int) -> tuple[str, bool]:
        """A lease id for a new connection of ``user_id`` and whether it may stay.

        Refused only when Redis says the user is at the cap; when Redis cannot be
        asked the caller's local count decided, and the lease is registered at the
        next renewal.
        """
        self._count += 1
        conn_id = f"{self.node}:{self._count}"
        try:
            granted = await self.limits.acquire_connection(
                user_id, conn_id, self.limit, self.lease_secs
            )
        except asyncio.CancelledError:
            self.release(user_id, conn_id)  # the script may have run: take it back
            raise
        if granted is False:
            return conn_id, False
        self.held.setdefault(user_id, set()).add(conn_id)
        return conn_id, True

    def release(self, user_id: int, conn_id: str) -> None:
        """The connection closed (synchronous: from the hub's bookkeeping)."""
        ids = self.held.get(user_id)
        if ids is not None:
            ids.discard(conn_id)
            if not ids:
                del self.held[user_id]
        self._released.append((user_id, conn_id))
        self._wake.set()

    async def _keep(self) -> None:
        next_refresh = time.monotonic() + self.refresh_secs
        while True:
            try:
                async with asyncio.timeout(max(0.0, next_refresh - time.monotonic())):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                if self._released:
                    released, self._released = self._released, []
                    # Not sent (Redis away): those leases expire by themselves.
                    await self.limits.release_connections(released)
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + self.refresh_secs
                    await self.limits.refresh_connections(self.held, self.lease_secs)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("connection lease upkeep failed")

    async def close(self) -> None:
        """On shutdown: stop renewing and give back every lease still held (best effort)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for user_id, ids in list(self.held.items()):
            for conn_id in ids:
                self._released.append((user_id, conn_id))
        self.held.clear()
        released, self._released = self._released, []
        if released:
            await self.limits.release_connections(released)
