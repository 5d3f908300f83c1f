"""The hub: connections, subscriptions, fan-out across processes, the server-side API.

The life of a post (DESIGN.md): a publish frame is checked (channel rules,
token bucket) and queued on the batch writer (group commit); after commit the
publisher gets its ack, the event goes to this process's feed of the channel
and once to the broker; every other process's listener hands it to its feed.
A feed delivers in sequence order, fills gaps from the store, and appends the
same encoded bytes to each subscriber's outbox.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import msgpack
from sqlalchemy import select, update

from realtime.brokers import Broker, broker_from_url
from realtime.connection import Connection, Sub
from realtime.errors import PublishFailed
from realtime.feeds import Feed
from realtime.limits import shared_limits
from realtime.limits.leases import ConnectionLeases
from realtime.limits.user_limit import UserLimit
from realtime.metrics import HubStats, register
from realtime.protocol import frames as F
from realtime.protocol.codec import Codec, WireEvent
from realtime.protocol.errors import CloseCode, ProtocolError
from realtime.protocol.presence import LocalAttendance, PresenceBoard
from realtime.protocol.ratelimit import TokenBucket
from realtime.tokens import TokenClaim
from storage import authz, channels, event_types
from storage.account_changes import AccountChanges
from storage.batch_writer import event_writer
from storage.db import Database
from storage.errors import StoreUnavailable
from storage.event_log import WriteItem
from storage.models import AuthSession, Channel, User, UserStatus, utcnow
from storage.repo import channel_log
from storage.repo.channel_log import NewEvent, StoredEvent
from storage.repo.logs import audit
from storage.settings import Settings

log = logging.getLogger("classhub.hub")

CONTROL = "control"
MAX_SUBSCRIPTIONS = 200
MAX_BAD_FRAMES = 100
# A channel's broker subscription outlives its last subscriber briefly: reconnects are common.
FEED_LINGER_SECS = 30.0
# How long an out-of-order event waits for the missing ones before the store is asked.
GAP_WAIT_SECS = 0.2
# Compare each live channel with the store's head: catches a broker message lost in transit.
HEAD_CHECK_SECS = 5.0
# Posts granted while the user's local bucket was full are recorded in Redis together,
# this often: a few round trips a second at most, whatever the traffic.
SHARED_RECORD_SECS = 0.05
PRESENCE_TICK_SECS = 1.0
PRESENCE_FULL_SECS = 20.0
PRESENCE_EXPIRY_SECS = 65.0
HEARTBEAT_SECS = 25.0
HEARTBEAT_TIMEOUT_SECS = 45.0
HOUSEKEEPING_SECS = 1.0
REVALIDATE_SECS = 60.0
DRAIN_BATCH = 200
DRAIN_PAUSE_SECS = 0.05
NAME_CACHE_MAX = 20_000

PING: dict[str, Any] = {"type": "ping"}
SeenCallback = Callable[[int, str, int], Awaitable[None]]


def _event_of(channel: str) -> int | None:
    ref = channels.parse_channel(channel)
    if ref is not None and ref.kind in (channels.ChannelKind.CHAT, channels.ChannelKind.BOARD, channels.ChannelKind.NEWS):
        return ref.id
    return None


def _pack_events(wires: list[WireEvent]) -> bytes:
    """One broker message per channel per commit: all of that commit's events of the channel.

    Type and body are those of the event's payload: an event whose body cannot be
    encoded travels as the ``unreadable`` placeholder, not as a message that fails to
    pack (and takes the commit's other events with it)."""
    return msgpack.packb([  # type: ignore[no-any-return]
        [w.event.id, w.event.channel, w.event.seq, (p := w.payload)["type"], w.event.author_id,
         w.event.client_id, w.event.ref_id, p["body"], w.event.created_at.timestamp(), w.author_name]
        for w in wires
    ])


def _unpack_events(data: bytes) -> list[WireEvent]:
    out = []
    for eid, channel, seq, typ, author_id, client_id, ref_id, body, ts, name in msgpack.unpackb(data):
        ev = StoredEvent(
            id=eid, channel=channel, seq=seq, type=typ, author_id=author_id, client_id=client_id,
            ref_id=ref_id, body=body, created_at=dt.datetime.fromtimestamp(ts, dt.UTC),
        )
        out.append(WireEvent(ev, name))
    return out


def _accounts_message(changes: AccountChanges) -> dict[str, Any]:
    return {
        "op": "accounts_changed",
        "user_ids": sorted(changes.user_ids),
        "session_hashes": sorted(changes.session_hashes),
        "everything": changes.everything,
    }


async def announce_accounts_changed(settings: Settings, changes: AccountChanges) -> None:
    """From a process without a hub (the ``classhub`` CLI): tell the servers on the
    broker's control topic, as a hub would. Only a shared broker (Redis) reaches them."""
    broker = broker_from_url(settings.redis_url, prefix=settings.redis_prefix)
    await broker.connect()
    try:
        node = secrets.token_hex(4).encode()
        await broker.publish(CONTROL, node + msgpack.packb(_accounts_message(changes)))
    finally:
        await broker.close()


class Hub:
    def __init__(self, settings: Settings, db: Database, broker: Broker | None = None) -> None:
        self.settings = settings
        self.db = db
        self.broker = broker or broker_from_url(settings.redis_url, prefix=settings.redis_prefix)
        self.broker.on_message = self._on_broker_message
        self.broker.on_reconnect = self._after_broker_reconnect
        self.node = secrets.token_hex(4)
        self._node_b = self.node.encode()
        self.stats = HubStats()
        self.feeds: dict[str, Feed] = {}
        self.conns: set[Connection] = set()
        self.by_user: dict[int, set[Connection]] = {}
        self.buckets: dict[int, TokenBucket] = {}
        # Refusals of the shared (Redis) publish bucket: user -> monotonic time they end;
        # posts granted here and not yet recorded there: user -> how many.
        self._shared_refusals: dict[int, float] = {}
        self._unrecorded: dict[int, int] = {}
        self._record_handle: asyncio.TimerHandle | None = None
        self.attendance = LocalAttendance()
        self.board = PresenceBoard()
        self.watchers: dict[int, set[Connection]] = {}
        self.names: dict[int, str] = {}
        self.writer = event_writer(db, self._after_commit, name="chat")
        self._seen: list[SeenCallback] = []
        self._accounts_changed: list[Callable[[AccountChanges], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dirty: list[Connection] = []
        self._flush_handle: asyncio.Handle | None = None
        self._flush_since = 0.0
        self._inbound: list[WireEvent] = []
        self._outgoing: list[WireEvent] = []  # fanned out here, still to go to the broker
        self._outgoing_wake: asyncio.Future[None] | None = None
        self._inbound_handle: asyncio.Handle | None = None
        self.draining = False
        # Bumped by every account change: a handshake that looked its session up before a
        # change has it checked again once registered (``serve``).
        self.account_epoch = 0
        tuning = settings.hub
        self.heartbeat_secs = tuning.heartbeat_secs
        self.heartbeat_timeout = tuning.heartbeat_timeout_secs
        self.revalidate_secs = tuning.revalidate_secs
        self.gap_wait = tuning.gap_wait_secs
        self.head_check_secs = tuning.head_check_secs
        self.shared_record_secs = tuning.shared_record_secs
        # With Redis, the connection cap and the publish bucket hold across processes
        # (realtime/limits/); the local ones are still checked first.
        self.limits = shared_limits(settings)
        self.leases = (
            ConnectionLeases(
                self.limits, self.node, limit=settings.max_connections_per_user,
                lease_secs=tuning.conn_lease_secs,
            )
            if self.limits is not None else None
        )
        # Subscribe frames, and the HTTP API's writes (web/api.py asks ``write_limit``).
        self.subscribe_limit = UserLimit(
            "subscribe", settings.subscribe_rate, settings.subscribe_burst, self.limits
        )
        self.write_limit = UserLimit("write", settings.write_rate, settings.write_burst, self.limits)

    # Lifecycle.

    async def start(self) -> None:
        await self.broker.connect()
        await self.broker.subscribe(CONTROL)
        self.writer.start()
        if self.leases is not None:
            self.leases.start()
        self._spawn(self._broker_sender(), "hub-broker-sender")
        self._spawn(self._housekeeping(), "hub-housekeeping")
        register(self)
        await self._control({"op": "presence_sync"})

    async def close(self) -> None:
        self.draining = True
        for conn in list(self.conns):
            conn.close(CloseCode.RESTART, "service restart")
        await self.writer.close()
        await asyncio.sleep(0)  # the last commit's fan-out
        await self._flush_outgoing(5.0)
        try:
            await self._control({"op": "presence_bye", "node": self.node})
        except Exception:  # noqa: BLE001 - the broker may be gone already
            pass
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except BaseException:  # noqa: BLE001 - cancelled
                pass
        if self._record_handle is not None:
            self._record_handle.cancel()  # posts not yet recorded: they no longer matter
        if self.leases is not None:
            await self.leases.close()  # gives this process's places back at once
        if self.limits is not None:
            await self.limits.close()
        await self.broker.close()

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hub task %s failed", task.get_name(), exc_info=task.exception())

    # The server-side API (docs/protocol.md section 7).

    async def publish(self, event: NewEvent) -> StoredEvent:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[StoredEvent] = loop.create_future()

        def done(result: StoredEvent | StoreUnavailable) -> None:
            if fut.done():
                return
            if isinstance(result, StoreUnavailable):
                fut.set_exception(PublishFailed(result.problem))
            else:
                fut.set_result(result)

        name = await self._names_for([event.author_id]) if event.author_id else {}
        self.writer.submit(WriteItem(event, name.get(event.author_id or 0)), done)
        return await fut

    async def broadcast(self, events: list[StoredEvent]) -> None:
        fresh = [e for e in events if not e.duplicate]
        if not fresh:
            return
        names = await self._names_for([e.author_id for e in fresh if e.author_id])
        wires = [WireEvent(e, names.get(e.author_id or 0)) for e in fresh]
        self._offer_all(wires)
        await self._to_broker(wires)

    async def disconnect_user(self, user_id: int, reason: str) -> None:
        self._disconnect_local(user_id, reason)
        await self._control({"op": "disconnect_user", "user_id": user_id, "reason": reason[:100]})

    async def membership_changed(self, user_ids: Iterable[int]) -> None:
        ids = sorted(set(user_ids))
        await self._recheck_local(ids)
        await self._control({"op": "membership_changed", "user_ids": ids})

    def on_seen(self, callback: SeenCallback) -> None:
        self._seen.append(callback)

    def on_accounts_changed(self, callback: Callable[[AccountChanges], None]) -> None:
        """Called with the account changes another process committed (caches of sign-ins),
        and with ``everything`` after a broker reconnect (messages may have been lost)."""
        self._accounts_changed.append(callback)

    def share_accounts_changed(self, changes: AccountChanges) -> None:
        """Tell the other processes (from inside a commit: sent by a task, not awaited)."""
        self._spawn(self._control(_accounts_message(changes)), "accounts-changed")
        self._recheck_accounts(changes)

    def _tell_accounts_changed(self, changes: AccountChanges) -> None:
        for callback in self._accounts_changed:
            callback(changes)
        self._recheck_accounts(changes)

    def _recheck_accounts(self, changes: AccountChanges) -> None:
        # A connection keeps the account row it opened with: admin rights taken away
        # (``classhub user make-admin --revoke``) or a status change must reach its
        # subscriptions too, not only the HTTP sign-in cache.
        self.account_epoch += 1
        self._forget_dm_rights(changes.user_ids)
        ids = sorted(u for u in changes.user_ids if u in self.by_user)
        if ids:
            self._spawn(self._recheck_local(ids), "accounts-recheck")
        # Sign-out, a password reset or any revocation ends the session's connections
        # now, on every process (this runs for the control message too), not at the next
        # periodic revalidation: a signed-out socket must not go on receiving messages.
        # Noted is not necessarily ended (a session's row touched): the store decides.
        if changes.everything:
            conns = list(self.conns)
        else:
            hashes = changes.session_hashes
            conns = [c for c in self.conns if c.session_hash in hashes] if hashes else []
            conns += [c for u in ids for c in self.by_user.get(u, ()) if c.session_hash not in hashes]
        if conns:
            self._spawn(self._revalidate(conns), "sessions-recheck")

    def _forget_dm_rights(self, user_ids: Iterable[int]) -> None:
        """Drop every connection's cached right to publish to a DM with one of ``user_ids``.

        That right depends on the *peer* too (active, sharing an event): when the peer is
        blocked or leaves their last shared event, the other side's cache must not keep
        answering yes. Recomputed on the next publish.
        """
        changed = set(user_ids)
        if not changed:
            return
        for conn in self.conns:
            stale = [
                channel for channel in conn.may_publish
                if channel.startswith("dm:") and (ref := channels.parse_channel(channel)) is not None
                and (ref.id in changed or ref.other in changed)
            ]
            for channel in stale:
                del conn.may_publish[channel]

    # Fan-out.

    def _offer_many(self, channel: str, events: list[WireEvent]) -> None:
        """Hand one channel's events (in any order, possibly seen before) to its feed."""
        feed = self.feeds.get(channel)
        if feed is None:
            return
        seqr = feed.seq
        if seqr is None:
            feed.early.extend(events)
            return
        if len(events) == 1:
            out = seqr.offer(events[0])
        else:
            out = []
            for ev in events:
                out.extend(seqr.offer(ev))
        if out:
            feed.deliver(out)
        if seqr.pending and feed.gap_timer is None:
            feed.gap_timer = asyncio.get_running_loop().call_later(self.gap_wait, self._gap_due, feed)

    def _offer_all(self, wires: list[WireEvent]) -> None:
        """Offer a batch (a group commit, or what the broker brought in one turn) per channel:
        each feed then sends its subscribers one frame for all of its new events."""
        if len(wires) == 1:
            self._offer_many(wires[0].event.channel, wires)
            return
        by_channel: dict[str, list[WireEvent]] = {}
        for w in wires:
            by_channel.setdefault(w.event.channel, []).append(w)
        for channel, events in by_channel.items():
            self._offer_many(channel, events)

    def _gap_due(self, feed: Feed) -> None:
        feed.gap_timer = None
        if feed.seq is not None and feed.seq.gap is not None and self.feeds.get(feed.channel) is feed:
            self._spawn(self._fill(feed), "fill-gap")

    async def _fill(self, feed: Feed) -> None:
        """Read what the feed is missing from the store and deliver it in order (a removed
        event as its ``erased`` placeholder: a hole in the store never holds the feed up)."""
        seqr = feed.seq
        if seqr is None:
            return
        self.stats.store_fills += 1
        while True:
            start = seqr.delivered
            async with self.db.session() as db:
                rows = await channel_log.read_log(db, feed.channel, start, 1000)
            if not rows:
                break
            names = await self._names_for([r.author_id for r in rows if r.author_id])
            if self.feeds.get(feed.channel) is not feed:
                return
            out = seqr.fill([WireEvent(r, names.get(r.author_id or 0)) for r in rows])
            if out:
                feed.deliver(out)
            if len(rows) < 1000 or seqr.delivered == start:
                break

    def _after_commit(self, items: list[WriteItem], results: Sequence[StoredEvent | StoreUnavailable]) -> None:
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
                    self._spawn(self._tell_dm_peer(result), "dm-notice")
        if wires:
            asyncio.get_running_loop().call_soon(self._fan_out_committed, wires)

    async def _tell_dm_peer(self, dm: StoredEvent) -> None:
        """A direct message is announced on the recipient's personal channel
        (``dm.received``: which conversation, from whom, the message's id as ``ref``), so
        they hear of it wherever they are, and a client that was away finds it on
        resuming. The notice carries no name and no text (erasure: docs/privacy.md)."""
        _, lo, hi = dm.channel.split(":")
        sender = dm.author_id
        peer = int(hi) if sender == int(lo) else int(lo)
        notice = NewEvent(
            f"user:{peer}", event_types.DM_RECEIVED, {"channel": dm.channel, "from": sender}, None, None, dm.id
        )
        try:
            await self.publish(notice)
        except PublishFailed:  # the message itself is stored and delivered; only the notice is lost
            log.warning("the notice of a direct message could not be stored")

    def _fan_out_committed(self, wires: list[WireEvent]) -> None:
        self._offer_all(wires)
        self._outgoing.extend(wires)
        wake = self._outgoing_wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _broker_sender(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._outgoing:
                self._outgoing_wake = loop.create_future()
                await self._outgoing_wake
                self._outgoing_wake = None
            wires, self._outgoing = self._outgoing, []
            await self._to_broker(wires)

    async def _flush_outgoing(self, timeout: float) -> None:
        """On close: let the broker sender pass on what is committed, for a while."""
        deadline = time.monotonic() + timeout
        while (self._outgoing or self._outgoing_wake is None) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _to_broker(self, wires: list[WireEvent]) -> None:
        node = self._node_b
        try:
            by_channel: dict[str, list[WireEvent]] = {}
            for w in wires:
                by_channel.setdefault(w.event.channel, []).append(w)
            await self.broker.publish_many(
                [(channel, node + _pack_events(batch)) for channel, batch in by_channel.items()]
            )
        except Exception as exc:  # noqa: BLE001 - committed is committed: others fill from the store
            self.stats.broker_publish_failures += len(wires)
            log.warning("broker publish failed (%s); other processes will fill from the store", exc)

    def _on_broker_message(self, topic: str, payload: bytes) -> None:
        if payload[:8] == self._node_b:
            return  # our own: delivered locally already
        if topic == CONTROL:
            self._on_control(payload[8:])
            return
        if topic not in self.feeds:
            return
        try:
            events = _unpack_events(payload[8:])
        except Exception:  # noqa: BLE001 - not ours to crash on
            log.warning("undecodable broker message on %s", topic)
            return
        # What arrives within one turn of the loop is fanned out together (one frame per
        # subscriber per channel), at the end of that turn.
        self._inbound.extend(events)
        if self._inbound_handle is None:
            self._inbound_handle = asyncio.get_running_loop().call_soon(self._offer_inbound)

    def _offer_inbound(self) -> None:
        self._inbound_handle = None
        events, self._inbound = self._inbound, []
        self._offer_all(events)

    async def _after_broker_reconnect(self) -> None:
        log.info("broker reconnected: filling %d channels from the store", len(self.feeds))
        self._tell_accounts_changed(AccountChanges(everything=True))
        for feed in list(self.feeds.values()):
            await self._fill(feed)
        await self._control({"op": "presence_sync"})
        self._announce_presence(full=True)

    # Names of authors and of present users.

    async def _names_for(self, ids: Iterable[int | None]) -> dict[int, str]:
        wanted = {i for i in ids if i}
        missing = [i for i in wanted if i not in self.names]
        if missing:
            if len(self.names) > NAME_CACHE_MAX:
                self.names.clear()
            async with self.db.session() as db:
                rows = await db.execute(select(User.id, User.display_name).where(User.id.in_(missing)))
                for uid, name in rows:
                    self.names[uid] = name
        return {i: self.names.get(i, "") for i in wanted}

    # Connections.

    def can_accept(self, user_id: int) -> bool:
        """Under the cap in this process (the whole truth without Redis)."""
        return len(self.by_user.get(user_id, ())) < self.settings.max_connections_per_user

    async def _admit(self, conn: Connection) -> bool:
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
        conn = Connection(
            user=user, session_hash=session_hash, codec=codec, send=send,
            outbox_limit=self.settings.outbox_limit, stats=self.stats, on_shed=self._on_shed,
            on_dirty=self._mark_dirty, ip=str((scope.get("client") or ("",))[0] or "")[:64],
        )
        conn.start()
        if conn.raw is not None:
            conn.raw.drop_handshake()
        # The request headers are not needed past the handshake either (nor kept by anyone).
        scope["headers"] = []
        self.names[user.id] = user.display_name
        try:
            if not await self._admit(conn):
                conn.close(CloseCode.TOO_MANY_CONNECTIONS, "too many connections")
            else:
                self.conns.add(conn)
                self.by_user.setdefault(user.id, set()).add(conn)
                self.stats.connections += 1
                if account_epoch is not None and account_epoch != self.account_epoch:
                    # An account change (a sign-out?) came while the handshake ran: the
                    # session it found may have ended since.
                    self._spawn(self._revalidate([conn]), "sessions-recheck")
                s = self.settings
                conn.push({
                    "type": "hello", "user": {"id": user.id, "name": user.display_name}, "node": self.node,
                    "heartbeat_secs": self.heartbeat_secs, "max_frame_bytes": s.max_frame_bytes,
                    "replay_limit": s.replay_limit, "publish_rate": s.publish_rate,
                    "publish_burst": s.publish_burst,
                })
            await self._read_loop(conn, receive)
        except asyncio.CancelledError:
            pass  # closed by us: shed, drained, or its socket stopped taking bytes
        finally:
            self._forget(conn)
            await conn.stop()

    async def _read_loop(self, conn: Connection, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        codec = conn.codec
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive" or conn.closing:
                continue
            conn.last_recv = time.monotonic()
            conn.pinged = False
            data = message.get("text")
            if data is None:
                data = message.get("bytes")
            try:
                request = F.parse(codec.decode(data))
            except ProtocolError as exc:
                conn.bad_frames += 1
                conn.push(exc.frame())
                if conn.bad_frames >= MAX_BAD_FRAMES:
                    conn.close(CloseCode.POLICY, "too many invalid frames")
                continue
            conn.bad_frames = 0
            try:
                await self._handle(conn, request)
            except ProtocolError as exc:
                conn.push(exc.frame())
            except Exception:  # the store or broker failed: tell the client, keep going
                log.exception("handling a %s frame failed", type(request).__name__)
                rid = getattr(request, "id", None)
                conn.push(ProtocolError("unavailable", "the server could not do this now; retry", request_id=rid).frame())

    def _mark_dirty(self, conn: Connection) -> None:
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

    def _on_shed(self, conn: Connection) -> None:
        # Called from inside fan-out loops: unhook later, never while they iterate.
        asyncio.get_running_loop().call_soon(self._forget, conn)

    def _forget(self, conn: Connection) -> None:
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
        for channel in list(conn.subs):
            self._detach(conn, channel)
        for ev in list(conn.watching):
            self._unwatch(conn, ev)

    async def _handle(self, conn: Connection, req: F.Request) -> None:
        if isinstance(req, F.Publish):
            await self._publish_frame(conn, req)
        elif isinstance(req, F.Subscribe):
            # Each names up to 100 channels, each checked in the store: limited per user
            # like publishes (an unsubscribe does no I/O and only frees: never refused).
            wait = await self.subscribe_limit.take(conn.user_id)
            if wait:
                raise ProtocolError(
                    "rate_limited", f"too many subscribe frames; retry in {wait:.1f} s",
                    request_id=req.id, retry_after=wait,
                )
            await self._subscribe(conn, req)
        elif isinstance(req, F.Unsubscribe):
            for channel in req.channels:
                self._detach(conn, channel)
            answer: dict[str, Any] = {"type": "unsubscribed", "channels": list(req.channels)}
            if req.id is not None:
                answer["id"] = req.id
            conn.push(answer)
        elif isinstance(req, F.Seen):
            if req.channel not in conn.subs:
                raise ProtocolError("not_subscribed", f"not subscribed to {req.channel}", channel=req.channel)
            for cb in self._seen:
                try:
                    await cb(conn.user_id, req.channel, req.event_id)
                except Exception:
                    log.exception("seen callback failed")
        elif isinstance(req, F.Ping):
            conn.push({"type": "pong"} if req.id is None else {"type": "pong", "id": req.id})
        # Pong: receiving it already counted as a sign of life.

    # Publish.

    async def _shared_publish_wait(self, user_id: int, bucket: TokenBucket, now: float) -> float:
        """The user's bucket across processes (Redis), after the local one granted a token.

        A refusal from Redis holds here until its time is up. When the user's local
        bucket was full (they had not posted here lately: a classroom's one post a
        second), the post goes on at once and is recorded in Redis with the others of
        the next moment (``SHARED_RECORD_SECS``, one round trip for all of them); Redis's
        answer, when the user is over the shared limit, refuses their next posts. So
        such posts wait for no round trip and cost Redis a few calls a second in all.
        Any other post waits for Redis's verdict (this user's unrecorded posts recorded
        first, in the same round trip), so a flood through one process or many is
        refused as it comes; the recorded path lets through at most one post per
        process per recording period beyond the limit. Redis not answering leaves the
        local bucket to decide.
        """
        settings, limits = self.settings, self.limits
        assert limits is not None
        refused_until = self._shared_refusals.get(user_id)
        if refused_until is not None:
            if refused_until > now:
                bucket.give_back()
                return refused_until - now
            del self._shared_refusals[user_id]
        if bucket.was_full():
            self._unrecorded[user_id] = self._unrecorded.get(user_id, 0) + 1
            if self._record_handle is None:
                self._record_handle = asyncio.get_running_loop().call_later(
                    self.shared_record_secs, self._record_publishes
                )
            return 0.0
        shared = await limits.take_publish(
            user_id, settings.publish_rate, settings.publish_burst,
            record_first=self._unrecorded.pop(user_id, 0),
        )
        if not shared:
            return 0.0
        bucket.give_back()
        self._refuse_shared(user_id, shared)
        return shared

    def _record_publishes(self) -> None:
        self._record_handle = None
        counts, self._unrecorded = self._unrecorded, {}
        if counts:
            self._spawn(self._record_publishes_now(counts), "shared-publish-record")

    async def _record_publishes_now(self, counts: dict[int, int]) -> None:
        assert self.limits is not None
        s = self.settings
        waits = await self.limits.record_publishes(counts, s.publish_rate, s.publish_burst)
        for user_id, wait in (waits or {}).items():
            if wait > 0:
                self._refuse_shared(user_id, wait)

    def _refuse_shared(self, user_id: int, wait: float) -> None:
        now = time.monotonic()
        refusals = self._shared_refusals
        if len(refusals) > 10_000:
            self._shared_refusals = refusals = {u: t for u, t in refusals.items() if t > now}
        refusals[user_id] = now + wait

    async def _publish_frame(self, conn: Connection, req: F.Publish) -> None:
        ref = channels.parse_channel(req.channel)
        if ref is None:
            self.stats.publish("bad_channel")
            raise ProtocolError("bad_channel", f"{req.channel!r} is not a channel", request_id=req.id, channel=req.channel)
        allowed = conn.may_publish.get(req.channel)
        if allowed is None:
            async with self.db.session() as db:
                allowed = await authz.may_publish(db, conn.user, ref)
            conn.may_publish[req.channel] = allowed
        if not allowed:
            self.stats.publish("forbidden")
            raise ProtocolError("forbidden", f"you may not publish to {req.channel}", request_id=req.id, channel=req.channel)
        now = time.monotonic()
        bucket = self.buckets.get(conn.user_id)
        if bucket is None:
            if len(self.buckets) > 50_000:
                self.buckets = {u: b for u, b in self.buckets.items() if not b.full(now)}
            bucket = self.buckets[conn.user_id] = TokenBucket(self.settings.publish_rate, self.settings.publish_burst, now)
        wait = bucket.take(now)
        if not wait and self.limits is not None:
            wait = await self._shared_publish_wait(conn.user_id, bucket, now)
        if wait:
            self.stats.publish("rate_limited")
            raise ProtocolError(
                "rate_limited", f"too many publishes; retry in {wait:.1f} s",
                request_id=req.id, channel=req.channel, retry_after=wait,
            )
        rid = req.id
        stats = self.stats

        def done(result: StoredEvent | StoreUnavailable) -> None:
            if isinstance(result, StoreUnavailable):
                stats.publish("failed")
                conn.push(ProtocolError("unavailable", "the message could not be stored; retry with the same id", request_id=rid, channel=req.channel).frame())
                return
            stats.publish("duplicate" if result.duplicate else "ok")
            conn.push({"type": "ack", "id": rid, "channel": result.channel, "seq": result.seq, "event_id": result.id})

        self.writer.submit(WriteItem(
            NewEvent(channel=ref.name, type=event_types.MESSAGE, body=req.body, author_id=conn.user_id, client_id=rid, ref_id=req.ref),
            conn.name,
        ), done)

    # Subscribe.

    async def _subscribe(self, conn: Connection, req: F.Subscribe) -> None:
        answers: list[dict[str, Any]] = []
        accepted: list[tuple[int, F.SubscribeEntry, Sub, Feed]] = []
        async with self.db.session() as db:
            for entry in req.entries:
                answer: dict[str, Any] = {"channel": entry.channel}
                answers.append(answer)
                ref = channels.parse_channel(entry.channel)
                if ref is None:
                    answer.update(status="denied", code="bad_channel")
                    continue
                if entry.channel not in conn.subs and len(conn.subs) >= MAX_SUBSCRIPTIONS:
                    answer.update(status="denied", code="too_many_subscriptions")
                    continue
                may_read, may_publish = await authz.channel_rights(db, conn.user, ref)
                if not may_read:
                    answer.update(status="denied", code="forbidden")
                    continue
                if may_publish is not None:
                    conn.may_publish[entry.channel] = may_publish
                if conn.user.is_admin and await authz.reads_as_admin_only(db, conn.user, ref):
                    # An admin reading a log they take no part in: audited like the HTTP
                    # review, committed with this session before any event is replayed.
                    await audit(
                        db, actor_id=conn.user_id, action="review.subscribe", target=entry.channel,
                        detail={"since": entry.since}, ip=conn.ip,
                    )
                if conn.closing:
                    return
                # No await from here to attach: the feed lookup and the add are one step.
                sub, feed = self._attach(conn, entry.channel)
                accepted.append((len(answers) - 1, entry, sub, feed))
        if not accepted:
            self._answer_subscribe(conn, req, answers, [])
            return
        try:
            await asyncio.gather(*(asyncio.shield(f.ready) for _, _, _, f in accepted))
            limit = self.settings.replay_limit
            # None: start where this process's feed stands (decided below, synchronously).
            reads: list[tuple[int, list[StoredEvent]] | None] = []
            from_store = [
                (i, entry) for i, entry, _, feed in accepted
                if entry.since is not None and (feed.seq is None or entry.since != feed.seq.delivered)
            ]
            if from_store:
                async with self.db.session() as db:
                    stored: dict[int, tuple[int, list[StoredEvent]]] = {}
                    for i, entry in from_store:
                        head = await channel_log.last_seq(db, entry.channel)
                        since = entry.since
                        assert since is not None
                        if since > head or head - since > limit:
                            answers[i].update(status="reload", seq=head)
                            stored[i] = (head, [])
                        else:
                            # Every seq up to the head, removed events as placeholders;
                            # later ones reach the feed's buffer (it attached before).
                            rows = await channel_log.read_log(db, entry.channel, since, limit, head=head)
                            answers[i].update(status="recovered", seq=head)
                            stored[i] = (since, rows)
                reads = [stored.get(i) for i, _, _, _ in accepted]
            else:
                reads = [None] * len(accepted)
            names = await self._names_for([r.author_id for read in reads if read for r in read[1] if r.author_id])
        except Exception:
            for _, entry, sub, _ in accepted:
                if conn.subs.get(entry.channel) is sub:
                    self._detach(conn, entry.channel)
            raise
        # From here to the end: synchronous, so the boundary cannot move under us.
        pending: list[WireEvent] = []
        watch: list[int] = []
        for (i, entry, sub, feed), read in zip(accepted, reads, strict=True):
            if conn.subs.get(entry.channel) is not sub or self.feeds.get(entry.channel) is not feed:
                answers[i] = {"channel": entry.channel, "status": "denied", "code": "superseded"}
                continue
            assert feed.seq is not None
            if read is None:
                # No `since`, or exactly where this process's feed stands: the subscriber
                # starts there and gets everything after it live, without reading the store
                # (events committed elsewhere and still on their way arrive through the feed).
                start, rows = feed.seq.delivered, []
                if entry.since is None:
                    answers[i].update(status="ok", seq=start)
                else:
                    answers[i].update(status="recovered", seq=start)
            else:
                start, rows = read
            replay = [WireEvent(r, names.get(r.author_id or 0)) for r in rows]
            pending.extend(sub.recovery.finish(start, replay, feed.seq.delivered))
            feed.promote(conn, sub)
            if entry.presence and sub.event_id is not None:
                watch.append(sub.event_id)
        self._answer_subscribe(conn, req, answers, pending)
        for event_id in watch:
            self._watch(conn, event_id)

    def _answer_subscribe(self, conn: Connection, req: F.Subscribe, answers: list[dict[str, Any]], events: list[WireEvent]) -> None:
        frame: dict[str, Any] = {"type": "subscribed", "channels": answers}
        if req.id is not None:
            frame["id"] = req.id
        conn.push(frame)
        for ev in events:
            conn.push_event(ev)

    def _attach(self, conn: Connection, channel: str) -> tuple[Sub, Feed]:
        if channel in conn.subs:
            self._detach(conn, channel)
        feed = self.feeds.get(channel)
        if feed is None:
            feed = self.feeds[channel] = Feed(channel, self.stats)
            self._spawn(self._open_feed(feed), "open-feed")
        feed.idle_since = None
        sub = Sub(channel, event_id=_event_of(channel))
        feed.slow[conn] = sub
        conn.subs[channel] = sub
        self.stats.subscriptions += 1
        if sub.event_id is not None:
            n = conn.event_refs.get(sub.event_id, 0)
            conn.event_refs[sub.event_id] = n + 1
            if n == 0:
                self.attendance.join(sub.event_id, conn.user_id, conn.name)
        return sub, feed

    async def _open_feed(self, feed: Feed) -> None:
        try:
            await self.broker.subscribe(feed.channel)
            async with self.db.session() as db:
                head = await channel_log.last_seq(db, feed.channel)
        except Exception as exc:
            if not feed.ready.done():
                feed.ready.set_exception(exc)
                feed.ready.exception()  # retrieved: subscribers see it through gather
            if self.feeds.get(feed.channel) is feed:
                del self.feeds[feed.channel]
            raise
        out = feed.make_ready(head)
        if out:
            feed.deliver(out)

    def _detach(self, conn: Connection, channel: str) -> None:
        sub = conn.subs.pop(channel, None)
        if sub is None:
            return
        self.stats.subscriptions -= 1
        feed = self.feeds.get(channel)
        if feed is not None:
            feed.detach(conn)
            if feed.empty:
                feed.idle_since = time.monotonic()
        if sub.event_id is not None:
            n = conn.event_refs[sub.event_id] - 1
            if n:
                conn.event_refs[sub.event_id] = n
            else:
                del conn.event_refs[sub.event_id]
                self.attendance.leave(sub.event_id, conn.user_id)
                self._unwatch(conn, sub.event_id)

    # Presence.

    def _watch(self, conn: Connection, event_id: int) -> None:
        if event_id in conn.watching:
            return
        # Our own attendance counts at once, not only after the next tick (which still
        # announces these changes to the other processes: ``dirty`` is left as it is).
        att = self.attendance
        self.board.update(self.node, {ev: att.users(ev) for ev in att.dirty}, time.monotonic())
        conn.watching.add(event_id)
        self.watchers.setdefault(event_id, set()).add(conn)
        present = self.board.snapshot(event_id)
        conn.push({"type": "presence", "event": event_id,
                   "present": [{"id": u, "name": n} for u, n in sorted(present.items())]})

    def _unwatch(self, conn: Connection, event_id: int) -> None:
        if event_id not in conn.watching:
            return
        conn.watching.discard(event_id)
        watchers = self.watchers.get(event_id)
        if watchers is not None:
            watchers.discard(conn)
            if not watchers:
                del self.watchers[event_id]

    def _announce_presence(self, *, full: bool = False) -> None:
        now = time.monotonic()
        changed = self.attendance.everything() if full else self.attendance.take_dirty()
        if full:
            self.attendance.dirty = set()
        if changed or full:
            self.board.update(self.node, changed, now, full=full)
            self._spawn(self._control({"op": "presence", "node": self.node, "full": full,
                                       "events": {str(k): {str(u): n for u, n in v.items()} for k, v in changed.items()}}),
                        "presence-announce")

    def _presence_tick(self) -> None:
        self._announce_presence()
        for event_id, joined, left in self.board.take_changes(set(self.watchers)):
            frame = {"type": "presence", "event": event_id,
                     "joined": [{"id": u, "name": n} for u, n in sorted(joined.items())], "left": left}
            for conn in list(self.watchers.get(event_id, ())):
                conn.push(frame)

    # Control topic.

    async def _control(self, message: dict[str, Any]) -> None:
        await self.broker.publish(CONTROL, self._node_b + msgpack.packb(message))

    def _on_control(self, data: bytes) -> None:
        try:
            msg = msgpack.unpackb(data)
            op = msg["op"]
        except Exception:  # noqa: BLE001
            log.warning("undecodable control message")
            return
        if op == "disconnect_user":
            self._disconnect_local(int(msg["user_id"]), str(msg.get("reason", "")))
        elif op == "accounts_changed":
            self._tell_accounts_changed(
                AccountChanges(
                    {int(u) for u in msg.get("user_ids", ())},
                    {str(h) for h in msg.get("session_hashes", ())},
                    bool(msg.get("everything")),
                )
            )
        elif op == "membership_changed":
            self._spawn(self._recheck_local([int(u) for u in msg["user_ids"]]), "membership-recheck")
        elif op == "presence":
            node = str(msg.get("node") or "")
            events = {int(k): {int(u): str(n) for u, n in v.items()} for k, v in msg["events"].items()}
            self.board.update(node, events, time.monotonic(), full=bool(msg.get("full")))
        elif op == "presence_sync":
            self._announce_presence(full=True)
        elif op == "presence_bye":
            self.board.drop_node(str(msg.get("node") or ""))
        elif op == "drain":
            self._spawn(self.drain(), "drain")

    def _disconnect_local(self, user_id: int, reason: str) -> None:
        for conn in list(self.by_user.get(user_id, ())):
            conn.close(CloseCode.SESSION_ENDED, reason[:100] or "session ended")

    async def _recheck_local(self, user_ids: list[int]) -> None:
        self._forget_dm_rights(user_ids)
        targets = [c for u in user_ids for c in self.by_user.get(u, ())]
        if not targets:
            return
        async with self.db.session() as db:
            users = {u.id: u for u in (await db.execute(select(User).where(User.id.in_(user_ids)))).scalars()}
            for conn in targets:
                user = users.get(conn.user_id)
                if user is None or user.status != UserStatus.ACTIVE.value:
                    conn.close(CloseCode.SESSION_ENDED, "account not active")
                    continue
                conn.user = user
                conn.may_publish.clear()
                lost = []
                for channel in list(conn.subs):
                    ref = channels.parse_channel(channel)
                    if ref is None:
                        lost.append(channel)
                        continue
                    may_read, may_publish = await authz.channel_rights(db, user, ref)
                    if not may_read:
                        lost.append(channel)
                    elif may_publish is not None:
                        conn.may_publish[channel] = may_publish
                for channel in lost:
                    self._detach(conn, channel)
                if lost:
                    conn.push({"type": "unsubscribed", "channels": lost, "reason": "forbidden"})

    # Housekeeping: heartbeats, presence ticks, head checks, revalidation, idle feeds.

    async def _housekeeping(self) -> None:
        last_full = last_head = last_revalidate = last_beat = time.monotonic()
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECS)
            now = time.monotonic()
            try:
                self._presence_tick()
                if now - last_full >= PRESENCE_FULL_SECS:
                    last_full = now
                    self._announce_presence(full=True)
                    self.board.expire(now, PRESENCE_EXPIRY_SECS, keep=self.node)
                if now - last_beat >= min(5.0, self.heartbeat_secs / 2):
                    last_beat = now
                    self._heartbeats(now)
                    self._drop_idle_feeds(now)
                if now - last_head >= self.head_check_secs:
                    last_head = now
                    await self._head_check()
                if now - last_revalidate >= self.revalidate_secs:
                    last_revalidate = now
                    await self._revalidate()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub housekeeping failed")

    def _heartbeats(self, now: float) -> None:
        for conn in list(self.conns):
            idle = now - conn.last_recv
            if idle > self.heartbeat_timeout:
                conn.close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
            elif idle > self.heartbeat_secs and not conn.pinged:
                conn.pinged = True
                conn.push_now(PING)

    def _drop_idle_feeds(self, now: float) -> None:
        for channel, feed in list(self.feeds.items()):
            if feed.empty and feed.idle_since is not None and now - feed.idle_since > FEED_LINGER_SECS:
                del self.feeds[channel]
                if feed.gap_timer is not None:
                    feed.gap_timer.cancel()
                self._spawn(self.broker.unsubscribe(channel), "unsubscribe")

    async def _head_check(self) -> None:
        ready = {c: f for c, f in self.feeds.items() if f.seq is not None and not f.empty}
        names = list(ready)
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            async with self.db.session() as db:
                rows = (await db.execute(select(Channel.name, Channel.last_seq).where(Channel.name.in_(chunk)))).all()
            for name, last in rows:
                feed = ready[name]
                if feed.seq is not None and last > feed.seq.delivered and self.feeds.get(name) is feed:
                    await self._fill(feed)

    async def _revalidate(self, conns: Iterable[Connection] | None = None) -> None:
        """Close the connections (default: all) whose session ended or whose account is
        no longer active (4401)."""
        by_hash: dict[str, list[Connection]] = {}
        for conn in self.conns if conns is None else conns:
            if conn.closing:
                continue
            by_hash.setdefault(conn.session_hash, []).append(conn)
        hashes = list(by_hash)
        now = utcnow()
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            async with self.db.session() as db:
                valid = set((await db.execute(
                    select(AuthSession.token_hash).join(User, User.id == AuthSession.user_id).where(
                        AuthSession.token_hash.in_(chunk), AuthSession.revoked_at.is_(None),
                        AuthSession.expires_at > now, User.status == UserStatus.ACTIVE.value,
                    ))).scalars())
                if valid and conns is None:
                    # Being connected is activity: keep the session from idling out under us.
                    await db.execute(
                        update(AuthSession).where(AuthSession.token_hash.in_(valid)).values(last_seen_at=now)
                    )
            for h in chunk:
                if h not in valid:
                    for conn in by_hash[h]:
                        conn.close(CloseCode.SESSION_ENDED, "session ended")

    # Tokens and draining.

    async def claim_token(self, claim: TokenClaim) -> bool:
        return await self.broker.claim_once("wstoken:" + claim.nonce, 120)

    async def drain(self) -> None:
        """Stop taking connections; close the open ones with 1012 in batches."""
        self.draining = True
        conns = sorted(self.conns, key=id)
        for i in range(0, len(conns), DRAIN_BATCH):
            for conn in conns[i:i + DRAIN_BATCH]:
                conn.close(CloseCode.RESTART, "service restart")
            await asyncio.sleep(DRAIN_PAUSE_SECS)
