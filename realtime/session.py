"""One client's session: the frames of one connection, read and answered in order.

The read loop parses each frame (too many bad ones in a row close the connection)
and dispatches it: a publish is checked (channel, rights, rate) and handed to the
batch writer (storage/batch_writer.py), which acks it after commit; a subscribe
checks rights (an admin's read of a log they take no part in is audited), attaches
to the channel's feed, reads what the client missed from the store and finishes
synchronously; unsubscribe, seen and ping are answered at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from realtime.connection import Connection, Sub
from realtime.fanout import Fanout
from realtime.feeds import Feed
from realtime.metrics import HubStats
from realtime.names import Names
from realtime.protocol import frames as F
from realtime.protocol.codec import WireEvent
from realtime.protocol.errors import CloseCode, ProtocolError
from realtime.publish_limits import RateLimits
from realtime.room_rules import RoomRules
from realtime.roster import Roster
from storage import authz, channels, event_types
from storage.batch_writer import BatchWriter
from storage.db import Database
from storage.errors import StoreUnavailable
from storage.event_log import WriteItem
from storage.repo import channel_log
from storage.repo.channel_log import NewEvent, StoredEvent
from storage.repo.logs import audit
from storage.settings import Settings

log = logging.getLogger("classhub.hub")

MAX_SUBSCRIPTIONS = 200
MAX_BAD_FRAMES = 100

SeenCallback = Callable[[int, str, int], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
# A subscription accepted and attached: its answer's index, the entry, the sub, the feed.
Accepted = tuple[int, F.SubscribeEntry, Sub, Feed]
# Where a subscriber starts and what it replays from the store; None: where the feed stands.
StoreRead = tuple[int, list[StoredEvent]] | None


class Session:
    __slots__ = (
        "conn", "db", "fanout", "limits", "names", "roster", "rules", "seen", "settings", "stats",
        "writer",
    )

    def __init__(
        self,
        conn: Connection,
        *,
        settings: Settings,
        db: Database,
        stats: HubStats,
        fanout: Fanout,
        roster: Roster,
        limits: RateLimits,
        writer: BatchWriter[WriteItem, StoredEvent],
        names: Names,
        seen: list[SeenCallback],
        rules: RoomRules,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.db = db
        self.stats = stats
        self.fanout = fanout
        self.roster = roster
        self.limits = limits
        self.writer = writer
        self.names = names
        self.seen = seen
        self.rules = rules

    def hello(self, node: str, heartbeat_secs: float) -> None:
        s, user = self.settings, self.conn.user
        self.conn.push({
            "type": "hello", "user": {"id": user.id, "name": user.display_name}, "node": node,
            "heartbeat_secs": heartbeat_secs, "max_frame_bytes": s.max_frame_bytes,
            "replay_limit": s.replay_limit, "publish_rate": s.publish_rate,
            "publish_burst": s.publish_burst,
        })

    async def read_loop(self, receive: Receive) -> None:
        conn = self.conn
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
                await self._handle(request)
            except ProtocolError as exc:
                conn.push(exc.frame())
            except Exception:  # the store or broker failed: tell the client, keep going
                log.exception("handling a %s frame failed", type(request).__name__)
                rid = getattr(request, "id", None)
                conn.push(ProtocolError(
                    "unavailable", "the server could not do this now; retry", request_id=rid
                ).frame())

    async def _handle(self, req: F.Request) -> None:
        conn = self.conn
        if isinstance(req, F.Publish):
            await self._publish(req)
        elif isinstance(req, F.Subscribe):
            # Each names up to 100 channels, each checked in the store: limited per user
            # like publishes (an unsubscribe does no I/O and only frees: never refused).
            wait = await self.limits.subscribe_limit.take(conn.user_id)
            if wait:
                raise ProtocolError(
                    "rate_limited", f"too many subscribe frames; retry in {wait:.1f} s",
                    request_id=req.id, retry_after=wait,
                )
            await self._subscribe(req)
        elif isinstance(req, F.Unsubscribe):
            for channel in req.channels:
                self.fanout.detach(conn, channel)
            answer: dict[str, Any] = {"type": "unsubscribed", "channels": list(req.channels)}
            if req.id is not None:
                answer["id"] = req.id
            conn.push(answer)
        elif isinstance(req, F.Seen):
            await self._seen(req)
        elif isinstance(req, F.Ping):
            conn.push({"type": "pong"} if req.id is None else {"type": "pong", "id": req.id})
        # Pong: receiving it already counted as a sign of life.

    async def _seen(self, req: F.Seen) -> None:
        conn = self.conn
        if req.channel not in conn.subs:
            raise ProtocolError(
                "not_subscribed", f"not subscribed to {req.channel}", channel=req.channel
            )
        for cb in self.seen:
            try:
                await cb(conn.user_id, req.channel, req.event_id)
            except Exception:
                log.exception("seen callback failed")

    # Publish: checks, then the writer; the commit hook answers.

    async def _publish(self, req: F.Publish) -> None:
        conn, stats, channel = self.conn, self.stats, req.channel
        ref = channels.parse_channel(channel)
        if ref is None:
            stats.publish("bad_channel")
            raise ProtocolError(
                "bad_channel", f"{channel!r} is not a channel", request_id=req.id, channel=channel
            )
        allowed = conn.may_publish.get(channel)
        if allowed is None:
            async with self.db.session() as db:
                allowed = await authz.may_publish(db, conn.user, ref)
            conn.may_publish[channel] = allowed
        if not allowed:
            stats.publish("forbidden")
            raise ProtocolError(
                "forbidden", f"you may not publish to {channel}", request_id=req.id, channel=channel
            )
        now = time.monotonic()
        bucket = self.limits.publish_bucket(conn.user_id, now)
        wait = bucket.take(now)
        if not wait and self.limits.shared is not None:
            wait = await self.limits.shared_publish_wait(conn.user_id, bucket, now)
        if wait:
            stats.publish("rate_limited")
            raise ProtocolError(
                "rate_limited", f"too many publishes; retry in {wait:.1f} s",
                request_id=req.id, channel=channel, retry_after=wait,
            )
        rid = req.id
        # The room's controls (realtime/room_rules.py): cached, no query per post.
        try:
            held = await self.rules.check(conn.user_id, ref, channel, rid, req.ref, req.body)
        except ProtocolError as exc:  # muted, frozen, slow_mode
            stats.publish(exc.code)
            raise
        if held is not None:
            stats.publish("held")
            conn.push({"type": "held", "id": rid, "channel": channel, "held_id": held.held_id})
            return

        def done(result: StoredEvent | StoreUnavailable) -> None:
            if isinstance(result, StoreUnavailable):
                stats.publish("failed")
                conn.push(ProtocolError(
                    "unavailable", "the message could not be stored; retry with the same id",
                    request_id=rid, channel=channel,
                ).frame())
                return
            stats.publish("duplicate" if result.duplicate else "ok")
            conn.push(
                {
                    "type": "ack",
                    "id": rid,
                    "channel": result.channel,
                    "seq": result.seq,
                    "event_id": result.id,
                }
            )

        self.writer.submit(
            WriteItem(
                NewEvent(
                    channel=ref.name,
                    type=event_types.MESSAGE,
                    body=req.body,
                    author_id=conn.user_id,
                    client_id=rid,
                    ref_id=req.ref,
                ),
                conn.name,
            ),
            done,
        )

    # Subscribe: check and attach, wait for the feeds, read the store, finish synchronously.

    async def _subscribe(self, req: F.Subscribe) -> None:
        answers: list[dict[str, Any]] = [{"channel": entry.channel} for entry in req.entries]
        accepted = await self._check_and_attach(req.entries, answers)
        if accepted is None:
            return  # closing
        if not accepted:
            self._answer(req, answers, [])
            return
        try:
            await asyncio.gather(*(asyncio.shield(f.ready) for _, _, _, f in accepted))
            reads = await self._read_store(accepted, answers)
            names = await self.names.of(
                [r.author_id for read in reads if read for r in read[1] if r.author_id]
            )
        except Exception:
            for _, entry, sub, _ in accepted:
                if self.conn.subs.get(entry.channel) is sub:
                    self.fanout.detach(self.conn, entry.channel)
            raise
        self._finish(req, answers, accepted, reads, names)

    async def _check_and_attach(
        self, entries: Sequence[F.SubscribeEntry], answers: list[dict[str, Any]]
    ) -> list[Accepted] | None:
        """Check each entry (its denial goes in its answer) and attach the allowed ones;
        None when the connection started closing meanwhile."""
        conn = self.conn
        accepted: list[Accepted] = []
        async with self.db.session() as db:
            for i, entry in enumerate(entries):
                denied, review = await self._check(db, entry)
                if denied is not None:
                    answers[i].update(status="denied", code=denied)
                    continue
                if conn.closing:
                    return None
                # No await from here to attach: the feed lookup and the add are one step.
                sub, feed = self.fanout.attach(conn, entry.channel, attends=not review)
                accepted.append((i, entry, sub, feed))
        return accepted

    async def _check(
        self, db: AsyncSession, entry: F.SubscribeEntry
    ) -> tuple[str | None, bool]:
        """Why the connection may not read ``entry``'s channel (None: it may), and whether
        it reads only as a reviewing admin (audited; not attendance); caches its right to
        publish there."""
        conn = self.conn
        ref = channels.parse_channel(entry.channel)
        if ref is None:
            return "bad_channel", False
        if entry.channel not in conn.subs and len(conn.subs) >= MAX_SUBSCRIPTIONS:
            return "too_many_subscriptions", False
        may_read, may_publish = await authz.channel_rights(db, conn.user, ref)
        if not may_read:
            return "forbidden", False
        if may_publish is not None:
            conn.may_publish[entry.channel] = may_publish
        if conn.user.is_admin and await authz.reads_as_admin_only(db, conn.user, ref):
            # An admin reading a log they take no part in: audited like the HTTP
            # review, committed with this session before any event is replayed.
            await audit(
                db, actor_id=conn.user_id, action="review.subscribe", target=entry.channel,
                detail={"since": entry.since}, ip=conn.ip,
            )
            return None, True
        return None, False

    async def _read_store(
        self, accepted: list[Accepted], answers: list[dict[str, Any]]
    ) -> list[StoreRead]:
        """What each accepted entry replays from the store (its answer's status set here);
        None: it starts where this process's feed stands (decided in ``_finish``)."""
        from_store = [
            (i, entry) for i, entry, _, feed in accepted
            if entry.since is not None and (feed.seq is None or entry.since != feed.seq.delivered)
        ]
        if not from_store:
            return [None] * len(accepted)
        limit = self.settings.replay_limit
        stored: dict[int, tuple[int, list[StoredEvent]]] = {}
        async with self.db.session() as db:
            for i, entry in from_store:
                head = await channel_log.last_seq(db, entry.channel)
                since = entry.since
                if since is None:
                    raise RuntimeError(f"{entry.channel}: read from the store without since")
                if since > head or head - since > limit:
                    answers[i].update(status="reload", seq=head)
                    stored[i] = (head, [])
                else:
                    # Every seq up to the head, removed events as placeholders;
                    # later ones reach the feed's buffer (it attached before).
                    rows = await channel_log.read_log(db, entry.channel, since, limit, head=head)
                    answers[i].update(status="recovered", seq=head)
                    stored[i] = (since, rows)
        return [stored.get(i) for i, _, _, _ in accepted]

    def _finish(
        self, req: F.Subscribe, answers: list[dict[str, Any]], accepted: list[Accepted],
        reads: list[StoreRead], names: dict[int, str],
    ) -> None:
        # From here to the end: synchronous, so the boundary cannot move under us.
        conn = self.conn
        pending: list[WireEvent] = []
        watch: list[int] = []
        rows: list[StoredEvent]
        for (i, entry, sub, feed), read in zip(accepted, reads, strict=True):
            if (
                conn.subs.get(entry.channel) is not sub
                or self.fanout.feeds.get(entry.channel) is not feed
            ):
                answers[i] = {"channel": entry.channel, "status": "denied", "code": "superseded"}
                continue
            if feed.seq is None:
                raise RuntimeError(f"{entry.channel}: answered before its feed was ready")
            if read is None:
                # No `since`, or exactly where this process's feed stands: the subscriber
                # starts there and gets everything after it live, without reading the store
                # (events committed elsewhere and still on their way arrive through the feed).
                start, rows = feed.seq.delivered, []
                answers[i].update(status="ok" if entry.since is None else "recovered", seq=start)
            else:
                start, rows = read
            replay = [WireEvent(r, names.get(r.author_id or 0)) for r in rows]
            pending.extend(sub.recovery.finish(start, replay, feed.seq.delivered))
            feed.promote(conn, sub)
            if entry.presence and sub.event_id is not None:
                watch.append(sub.event_id)
        self._answer(req, answers, pending)
        for event_id in watch:
            self.roster.watch(conn, event_id)

    def _answer(
        self, req: F.Subscribe, answers: list[dict[str, Any]], events: list[WireEvent]
    ) -> None:
        frame: dict[str, Any] = {"type": "subscribed", "channels": answers}
        if req.id is not None:
            frame["id"] = req.id
        conn = self.conn
        conn.push(frame)
        for ev in events:
            conn.push_event(ev)
