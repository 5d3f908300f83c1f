"""The hub: wires the real-time parts together and offers the server-side API.

The life of a post (DESIGN.md), top to bottom: realtime/session.py parses and checks
a publish frame and submits it to the batch writer (storage/batch_writer.py), which
acks it after commit and then calls ``_committed``: at the writer's next await the
events go to this process's feeds (realtime/fanout.py: sequencer -> realtime/feeds.py:
the same bytes to every subscriber) and to realtime/cluster.py (one broker message per
channel, which the other processes offer to their feeds). HTTP writes take the same
path (``publish``). Presence: roster.py; rights after account changes: access.py;
periodic work: housekeeping.py; this process's connections: clients.py.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from realtime.access import Access
from realtime.brokers import Broker, broker_from_url
from realtime.clients import Clients
from realtime.cluster import Cluster
from realtime.connection import Connection
from realtime.control import ControlTopic, accounts_message
from realtime.errors import PublishFailed
from realtime.fanout import Fanout
from realtime.housekeeping import Housekeeping
from realtime.limits import shared_limits
from realtime.metrics import HubStats, register
from realtime.names import Names
from realtime.protocol.codec import Codec, WireEvent
from realtime.protocol.errors import CloseCode
from realtime.publish_limits import RateLimits
from realtime.room_rules import RoomRules
from realtime.roster import Roster
from realtime.session import SeenCallback, Session
from realtime.tasks import Tasks
from realtime.tokens import TokenClaim
from storage import event_types
from storage.account_changes import AccountChanges
from storage.batch_writer import event_writer
from storage.db import Database
from storage.errors import StoreUnavailable
from storage.event_log import WriteItem
from storage.models import User
from storage.repo.channel_log import NewEvent, StoredEvent
from storage.settings import Settings

log = logging.getLogger("classhub.hub")


class Hub:
    def __init__(self, settings: Settings, db: Database, broker: Broker | None = None) -> None:
        self.settings = settings
        self.db = db
        self.broker = broker or broker_from_url(settings.redis_url, prefix=settings.redis_prefix)
        self.node = secrets.token_hex(4)
        self.stats = HubStats()
        self.tasks = Tasks()
        self.names = Names(db)
        self.control = ControlTopic(self.broker, self.node)
        # With Redis, the connection cap and the publish bucket hold across processes
        # (realtime/limits/); the local ones are still checked first.
        self.limits = shared_limits(settings)
        self.rate_limits = RateLimits(settings, self.limits, self.tasks)
        self.write_limit = self.rate_limits.write_limit  # the HTTP API's writes (web/api.py)
        self.roster = Roster(self.node, self.control, self.tasks)
        self.fanout = Fanout(
            settings, db, self.broker, self.stats, self.names, self.roster, self.tasks
        )
        self.clients = Clients(
            settings, self.stats, self.fanout, self.roster, self.limits, self.node
        )
        self.access = Access(db, self.clients, self.fanout, self.tasks)
        self.rules = RoomRules(db, self.broker, self.broadcast)
        self.cluster = Cluster(
            self.broker, self.control, self.stats, self.fanout, self.roster, self.access,
            self.clients, self.tasks, self.rules,
        )
        self.housekeeping = Housekeeping(
            settings, self.clients, self.roster, self.fanout, self.access
        )
        self.writer = event_writer(db, self._committed, name="chat")
        self._seen: list[SeenCallback] = []

    @property
    def draining(self) -> bool:
        return self.clients.draining

    @property
    def account_epoch(self) -> int:
        return self.access.account_epoch

    # Lifecycle.

    async def start(self) -> None:
        await self.cluster.connect()
        self.writer.start()
        self.clients.start()
        self.cluster.start()
        self.tasks.spawn(self.housekeeping.run(), "hub-housekeeping")
        register(self)
        await self.control.send({"op": "presence_sync"})

    async def close(self) -> None:
        self.clients.close_all()
        await self.writer.close()
        await asyncio.sleep(0)  # the last commit's fan-out
        await self.cluster.close(5.0)
        await self.tasks.close()
        await self.clients.close()
        await self.rate_limits.close()
        await self.broker.close()

    # The commit hook: every stored event passes here, from a WebSocket or from HTTP.

    def _committed(
        self, items: list[WriteItem], results: Sequence[StoredEvent | StoreUnavailable]
    ) -> None:
        """The publishers are answered (just before, by the writer); fan out at its next await.

        The writer continues with the next transaction at once: while the store
        works on it, the loop writes this batch's frames (acks first: they were
        queued first). Broker messages go out from their own task, in commit
        order, so a Redis round trip never holds up the next commit either.
        """
        wires: list[WireEvent] = []
        for item, result in zip(items, results, strict=True):
            if isinstance(result, StoredEvent) and not result.duplicate:
                wires.append(WireEvent(result, item.author_name))
                if result.channel.startswith("dm:") and result.type == event_types.MESSAGE:
                    self.tasks.spawn(self._tell_dm_peer(result), "dm-notice")
        if wires:
            asyncio.get_running_loop().call_soon(self._fan_out_committed, wires)

    def _fan_out_committed(self, wires: list[WireEvent]) -> None:
        self.fanout.offer_all(wires)
        self.cluster.send(wires)

    async def _tell_dm_peer(self, dm: StoredEvent) -> None:
        """A direct message is announced on the recipient's personal channel
        (``dm.received``: which conversation, from whom, the message's id as ``ref``), so
        they hear of it wherever they are, and a client that was away finds it on
        resuming. The notice carries no name and no text (erasure: docs/privacy.md)."""
        _, lo, hi = dm.channel.split(":")
        sender = dm.author_id
        peer = int(hi) if sender == int(lo) else int(lo)
        notice = NewEvent(
            f"user:{peer}",
            event_types.DM_RECEIVED,
            {"channel": dm.channel, "from": sender},
            None,
            None,
            dm.id,
        )
        try:
            await self.publish(notice)
        except PublishFailed:  # the message itself is stored and delivered; only the notice is lost
            log.warning("the notice of a direct message could not be stored")

    # The server-side API (docs/protocol.md section 7).

    async def publish(self, event: NewEvent) -> StoredEvent:
        fut: asyncio.Future[StoredEvent] = asyncio.get_running_loop().create_future()

        def done(result: StoredEvent | StoreUnavailable) -> None:
            if fut.done():
                return
            if isinstance(result, StoreUnavailable):
                fut.set_exception(PublishFailed(result.problem))
            else:
                fut.set_result(result)

        name = await self.names.of([event.author_id]) if event.author_id else {}
        self.writer.submit(WriteItem(event, name.get(event.author_id or 0)), done)
        return await fut

    async def broadcast(self, events: list[StoredEvent]) -> None:
        """Events the web layer stored in its own transaction: fanned out and sent on."""
        fresh = [e for e in events if not e.duplicate]
        if not fresh:
            return
        names = await self.names.of([e.author_id for e in fresh if e.author_id])
        wires = [WireEvent(e, names.get(e.author_id or 0)) for e in fresh]
        self.fanout.offer_all(wires)
        await self.cluster.publish(wires)

    async def disconnect_user(self, user_id: int, reason: str) -> None:
        self.clients.disconnect_user(user_id, reason)
        await self.control.send(
            {"op": "disconnect_user", "user_id": user_id, "reason": reason[:100]}
        )

    async def room_changed(self, event_id: int) -> None:
        """The event's room controls changed (realtime/room_rules.py): here and everywhere."""
        self.rules.invalidate(event_id)
        try:
            await self.control.send({"op": "room_changed", "event_id": event_id})
        except Exception as exc:  # noqa: BLE001 - committed is committed
            # The others read the room again after a broker reconnect, or within
            # ROOM_CACHE_SECS (realtime/room_rules.py).
            log.warning("room_changed for event %d not sent (%s)", event_id, exc)

    async def membership_changed(self, user_ids: Iterable[int]) -> None:
        ids = sorted(set(user_ids))
        self.rules.invalidate_all()  # who is a trainer of a room may have changed
        await self.access.recheck_users(ids)
        await self.control.send({"op": "membership_changed", "user_ids": ids})

    def on_seen(self, callback: SeenCallback) -> None:
        self._seen.append(callback)

    def on_accounts_changed(self, callback: Callable[[AccountChanges], None]) -> None:
        """Called with the account changes another process committed (caches of sign-ins),
        and with ``everything`` after a broker reconnect (messages may have been lost)."""
        self.access.on_accounts_changed(callback)

    def share_accounts_changed(self, changes: AccountChanges) -> None:
        """Tell the other processes (from inside a commit: sent by a task, not awaited)."""
        self.tasks.spawn(self.control.send(accounts_message(changes)), "accounts-changed")
        self.access.recheck_accounts(changes)

    async def claim_token(self, claim: TokenClaim) -> bool:
        return await self.broker.claim_once("wstoken:" + claim.nonce, 120)

    async def drain(self) -> None:
        """Stop taking connections; close the open ones with 1012 in batches."""
        await self.clients.drain()

    async def serve(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
        *,
        user: User,
        session_hash: str,
        codec: Codec,
        account_epoch: int | None = None,
    ) -> None:
        """Run one accepted-to-be WebSocket (authentication and Origin are checked by the caller;
        ``account_epoch``: ``self.account_epoch`` when its session was looked up)."""
        await send({"type": "websocket.accept", "subprotocol": codec.name})
        s, clients = self.settings, self.clients
        conn = Connection(
            user=user, session_hash=session_hash, codec=codec, send=send,
            outbox_limit=s.outbox_limit, stats=self.stats, on_shed=clients.on_shed,
            on_dirty=clients.mark_dirty, ip=str((scope.get("client") or ("",))[0] or "")[:64],
        )
        conn.start()
        if conn.raw is not None:
            conn.raw.drop_handshake()
        # The request headers are not needed past the handshake either (nor kept by anyone).
        scope["headers"] = []
        self.names.remember(user.id, user.display_name)
        session = Session(
            conn, settings=s, db=self.db, stats=self.stats, fanout=self.fanout, roster=self.roster,
            limits=self.rate_limits, writer=self.writer, names=self.names, seen=self._seen,
            rules=self.rules,
        )
        try:
            if not await clients.admit(conn):
                conn.close(CloseCode.TOO_MANY_CONNECTIONS, "too many connections")
            else:
                clients.add(conn)
                if account_epoch is not None and account_epoch != self.access.account_epoch:
                    # An account change (a sign-out?) came while the handshake ran: the
                    # session it found may have ended since.
                    self.tasks.spawn(self.access.revalidate([conn]), "sessions-recheck")
                session.hello(self.node, self.housekeeping.heartbeat_secs)
            await session.read_loop(receive)
        except asyncio.CancelledError:
            pass  # closed by us: shed, drained, or its socket stopped taking bytes
        finally:
            clients.forget(conn)
            await conn.stop()
