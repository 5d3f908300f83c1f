"""The feed registry: this process's live feed of each channel someone here reads.

Attach and detach are synchronous: "is there a feed?" and "add me" are one step, so
two clients joining an empty channel at once can never overwrite each other. A new
feed subscribes to the broker and asks the store where the channel stands (its
``ready``); events reach a feed through ``offer_many``/``offer_all`` (a commit here,
the broker's news of one elsewhere), in any order: the feed's sequencer puts them in
order, and a gap that outlives ``CLASSHUB_GAP_WAIT_SECS`` is filled from the store. A feed
without subscribers lingers a while (reconnects are common), then goes.
"""

from __future__ import annotations

import asyncio
import time

from realtime.brokers import Broker
from realtime.connection import Connection, Sub
from realtime.feeds import Feed
from realtime.metrics import HubStats
from realtime.names import Names
from realtime.protocol.codec import WireEvent
from realtime.roster import Roster
from realtime.tasks import Tasks
from storage import channels
from storage.db import Database
from storage.repo import channel_log
from storage.settings import Settings

# A channel's broker subscription outlives its last subscriber briefly: reconnects are common.
FEED_LINGER_SECS = 30.0
FILL_PAGE = 1000
HEAD_CHECK_CHUNK = 500


class Fanout:
    def __init__(
        self, settings: Settings, db: Database, broker: Broker, stats: HubStats,
        names: Names, roster: Roster, tasks: Tasks,
    ) -> None:
        self.db = db
        self.broker = broker
        self.stats = stats
        self.names = names
        self.roster = roster
        self.tasks = tasks
        self.feeds: dict[str, Feed] = {}
        self.gap_wait = settings.hub.gap_wait_secs  # how long a gap waits before the store is asked

    # Subscribers.

    def attach(
        self, conn: Connection, channel: str, *, attends: bool = True
    ) -> tuple[Sub, Feed]:
        """Add ``conn`` to the channel's feed (created, and opened by a task, if none):
        synchronous, so the lookup and the add are one step. ``attends``: False for an
        admin's review, which does not make them present in the event."""
        if channel in conn.subs:
            self.detach(conn, channel)
        feed = self.feeds.get(channel)
        if feed is None:
            feed = self.feeds[channel] = Feed(channel, self.stats)
            self.tasks.spawn(self._open(feed), "open-feed")
        feed.idle_since = None
        sub = Sub(
            channel, event_id=channels.event_of(channels.parse_channel(channel)), attends=attends
        )
        feed.slow[conn] = sub
        conn.subs[channel] = sub
        self.stats.subscriptions += 1
        if sub.event_id is not None:
            self.roster.joined(conn, sub.event_id, attends=sub.attends)
        return sub, feed

    async def _open(self, feed: Feed) -> None:
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

    def detach(self, conn: Connection, channel: str) -> None:
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
            self.roster.left(conn, sub.event_id, attends=sub.attends)

    def detach_all(self, conn: Connection) -> None:
        for channel in list(conn.subs):
            self.detach(conn, channel)

    # Events.

    def offer_many(self, channel: str, events: list[WireEvent]) -> None:
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
            feed.gap_timer = asyncio.get_running_loop().call_later(
                self.gap_wait, self._gap_due, feed
            )

    def offer_all(self, wires: list[WireEvent]) -> None:
        """Offer a batch (a group commit, or what the broker brought in one turn) per channel:
        each feed then sends its subscribers one frame for all of its new events."""
        if len(wires) == 1:
            self.offer_many(wires[0].event.channel, wires)
            return
        by_channel: dict[str, list[WireEvent]] = {}
        for w in wires:
            by_channel.setdefault(w.event.channel, []).append(w)
        for channel, events in by_channel.items():
            self.offer_many(channel, events)

    # Filling from the store.

    def _gap_due(self, feed: Feed) -> None:
        feed.gap_timer = None
        if (
            feed.seq is not None
            and feed.seq.gap is not None
            and self.feeds.get(feed.channel) is feed
        ):
            self.tasks.spawn(self.fill(feed), "fill-gap")

    async def fill(self, feed: Feed) -> None:
        """Read what the feed is missing from the store and deliver it in order (a removed
        event as its ``erased`` placeholder: a hole in the store never holds the feed up)."""
        seqr = feed.seq
        if seqr is None:
            return
        self.stats.store_fills += 1
        while True:
            start = seqr.delivered
            async with self.db.session() as db:
                rows = await channel_log.read_log(db, feed.channel, start, FILL_PAGE)
            if not rows:
                break
            names = await self.names.of([r.author_id for r in rows if r.author_id])
            if self.feeds.get(feed.channel) is not feed:
                return
            out = seqr.fill([WireEvent(r, names.get(r.author_id or 0)) for r in rows])
            if out:
                feed.deliver(out)
            if len(rows) < FILL_PAGE or seqr.delivered == start:
                break

    async def fill_all(self) -> None:
        """After a broker reconnect: whatever was lost in transit, from the store."""
        for feed in list(self.feeds.values()):
            await self.fill(feed)

    async def check_heads(self) -> None:
        """Compare each live channel with the store's head.

        Catches a broker message lost in transit."""
        ready = {c: f for c, f in self.feeds.items() if f.seq is not None and not f.empty}
        names = list(ready)
        for i in range(0, len(names), HEAD_CHECK_CHUNK):
            async with self.db.session() as db:
                heads = await channel_log.heads_of(db, names[i:i + HEAD_CHECK_CHUNK])
            for name, last in heads.items():
                feed = ready[name]
                if (
                    feed.seq is not None
                    and last > feed.seq.delivered
                    and self.feeds.get(name) is feed
                ):
                    await self.fill(feed)

    def drop_idle(self, now: float) -> None:
        for channel, feed in list(self.feeds.items()):
            if (
                feed.empty
                and feed.idle_since is not None
                and now - feed.idle_since > FEED_LINGER_SECS
            ):
                del self.feeds[channel]
                if feed.gap_timer is not None:
                    feed.gap_timer.cancel()
                self.tasks.spawn(self.broker.unsubscribe(channel), "unsubscribe")
