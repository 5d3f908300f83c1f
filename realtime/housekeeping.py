"""The hub's periodic work, one loop a second: presence ticks, heartbeats (a ping to a quiet
client, a close to a silent one), idle feeds, head checks against the store, and the
revalidation of every connection's session."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from realtime.access import Access
from realtime.clients import Clients
from realtime.fanout import Fanout
from realtime.protocol.errors import CloseCode
from realtime.roster import PRESENCE_FULL_SECS, Roster
from storage.settings import Settings

log = logging.getLogger("classhub.hub")

HOUSEKEEPING_SECS = 1.0

PING: dict[str, Any] = {"type": "ping"}


class Housekeeping:
    def __init__(
        self, settings: Settings, clients: Clients, roster: Roster, fanout: Fanout, access: Access,
    ) -> None:
        self.clients = clients
        self.roster = roster
        self.fanout = fanout
        self.access = access
        tuning = settings.hub  # the timings and their reasons: storage/settings.py HubTuning
        self.heartbeat_secs = tuning.heartbeat_secs
        self.heartbeat_timeout = tuning.heartbeat_timeout_secs
        self.revalidate_secs = tuning.revalidate_secs
        self.head_check_secs = tuning.head_check_secs

    async def run(self) -> None:
        last_full = last_head = last_revalidate = last_beat = time.monotonic()
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECS)
            now = time.monotonic()
            try:
                self.roster.tick()
                if now - last_full >= PRESENCE_FULL_SECS:
                    last_full = now
                    self.roster.refresh(now)
                if now - last_beat >= min(5.0, self.heartbeat_secs / 2):
                    last_beat = now
                    self.heartbeats(now)
                    self.fanout.drop_idle(now)
                if now - last_head >= self.head_check_secs:
                    last_head = now
                    await self.fanout.check_heads()
                if now - last_revalidate >= self.revalidate_secs:
                    last_revalidate = now
                    await self.access.revalidate()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub housekeeping failed")

    def heartbeats(self, now: float) -> None:
        for conn in list(self.clients.conns):
            idle = now - conn.last_recv
            if idle > self.heartbeat_timeout:
                conn.close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
            elif idle > self.heartbeat_secs and not conn.pinged:
                conn.pinged = True
                conn.push_now(PING)
