"""The bridge to the broker: events to and from the other processes, and the control topic.

Committed events go out from one task, in commit order, one broker message per channel
per commit (``pack_events``), so a Redis round trip never holds up the next commit.
What arrives within one turn of the loop is offered to the feeds together. A message
carries its sender's node id first: a process skips its own (delivered locally already).
Control messages (realtime/control.py) are dispatched here by their ``op``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import Any

import msgpack

from realtime.access import Access
from realtime.brokers import Broker
from realtime.clients import Clients
from realtime.control import CONTROL, ControlTopic
from realtime.fanout import Fanout
from realtime.metrics import HubStats
from realtime.protocol.codec import WireEvent
from realtime.room_rules import RoomRules
from realtime.roster import Roster
from realtime.tasks import Tasks
from storage.account_changes import AccountChanges
from storage.repo.channel_log import StoredEvent

log = logging.getLogger("classhub.hub")


def pack_events(wires: list[WireEvent]) -> bytes:
    """One broker message per channel per commit: all of that commit's events of the channel.

    Type and body are those of the event's payload: an event whose body cannot be
    encoded travels as the ``unreadable`` placeholder, not as a message that fails to
    pack (and takes the commit's other events with it)."""
    return msgpack.packb(  # type: ignore[no-any-return]
        [
            [
                w.event.id, w.event.channel, w.event.seq, (p := w.payload)["type"],
                w.event.author_id, w.event.client_id, w.event.ref_id, p["body"],
                w.event.created_at.timestamp(), w.author_name,
            ]
            for w in wires
        ]
    )


def unpack_events(data: bytes) -> list[WireEvent]:
    out = []
    for eid, channel, seq, typ, author_id, client_id, ref_id, body, ts, name in msgpack.unpackb(
        data
    ):
        ev = StoredEvent(
            id=eid, channel=channel, seq=seq, type=typ, author_id=author_id, client_id=client_id,
            ref_id=ref_id, body=body, created_at=dt.datetime.fromtimestamp(ts, dt.UTC),
        )
        out.append(WireEvent(ev, name))
    return out


class Cluster:
    def __init__(
        self, broker: Broker, control: ControlTopic, stats: HubStats, fanout: Fanout,
        roster: Roster, access: Access, clients: Clients, tasks: Tasks, rules: RoomRules,
    ) -> None:
        self.broker = broker
        self.control = control
        self._node_b = control.node_b
        self.stats = stats
        self.fanout = fanout
        self.roster = roster
        self.access = access
        self.clients = clients
        self.tasks = tasks
        self.rules = rules
        self._inbound: list[WireEvent] = []
        self._inbound_handle: asyncio.Handle | None = None
        self._outgoing: list[WireEvent] = []  # fanned out here, still to go to the broker
        self._outgoing_wake: asyncio.Future[None] | None = None
        broker.on_message = self.on_message
        broker.on_reconnect = self.after_reconnect

    async def connect(self) -> None:
        await self.broker.connect()
        await self.broker.subscribe(CONTROL)

    def start(self) -> None:
        self.tasks.spawn(self._sender(), "hub-broker-sender")

    # Outgoing.

    def send(self, wires: list[WireEvent]) -> None:
        """Committed events (already offered to this process's feeds) for the other processes."""
        self._outgoing.extend(wires)
        wake = self._outgoing_wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _sender(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._outgoing:
                self._outgoing_wake = loop.create_future()
                await self._outgoing_wake
                self._outgoing_wake = None
            wires, self._outgoing = self._outgoing, []
            await self.publish(wires)

    async def close(self, timeout: float) -> None:
        """On close: let the sender pass on what is committed, for a while; say goodbye
        (the others drop this process's attendance at once)."""
        deadline = time.monotonic() + timeout
        while (self._outgoing or self._outgoing_wake is None) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        with contextlib.suppress(Exception):  # the broker may be gone already
            await self.control.send({"op": "presence_bye", "node": self.control.node})

    async def publish(self, wires: list[WireEvent]) -> None:
        node = self._node_b
        try:
            by_channel: dict[str, list[WireEvent]] = {}
            for w in wires:
                by_channel.setdefault(w.event.channel, []).append(w)
            await self.broker.publish_many(
                [(channel, node + pack_events(batch)) for channel, batch in by_channel.items()]
            )
        except Exception as exc:  # noqa: BLE001 - committed is committed: others fill from the store
            self.stats.broker_publish_failures += len(wires)
            log.warning("broker publish failed (%s); other processes will fill from the store", exc)

    # Incoming.

    def on_message(self, topic: str, payload: bytes) -> None:
        if payload[:8] == self._node_b:
            return  # our own: delivered locally already
        if topic == CONTROL:
            self._on_control(payload[8:])
            return
        if topic not in self.fanout.feeds:
            return
        try:
            events = unpack_events(payload[8:])
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
        self.fanout.offer_all(events)

    async def after_reconnect(self) -> None:
        log.info("broker reconnected: filling %d channels from the store", len(self.fanout.feeds))
        self.access.accounts_changed_elsewhere(AccountChanges(everything=True))
        self.rules.invalidate_all()  # a room_changed message may have been lost
        await self.fanout.fill_all()
        await self.control.send({"op": "presence_sync"})
        self.roster.announce(full=True)

    # The control topic.

    def _on_control(self, data: bytes) -> None:
        try:
            msg = msgpack.unpackb(data)
            op = msg["op"]
        except Exception:  # noqa: BLE001
            log.warning("undecodable control message")
            return
        if op == "disconnect_user":
            self.clients.disconnect_user(int(msg["user_id"]), str(msg.get("reason", "")))
        elif op == "accounts_changed":
            self.access.accounts_changed_elsewhere(_account_changes(msg))
        elif op == "room_changed":
            self.rules.invalidate(int(msg["event_id"]))
        elif op == "membership_changed":
            self.rules.invalidate_all()
            ids = [int(u) for u in msg["user_ids"]]
            self.tasks.spawn(self.access.recheck_users(ids), "membership-recheck")
        elif op == "presence":
            self.roster.on_presence(msg)
        elif op == "presence_sync":
            self.roster.announce(full=True)
        elif op == "presence_bye":
            self.roster.drop_node(str(msg.get("node") or ""))
        elif op == "drain":
            self.tasks.spawn(self.clients.drain(), "drain")


def _account_changes(msg: dict[str, Any]) -> AccountChanges:
    return AccountChanges(
        {int(u) for u in msg.get("user_ids", ())},
        {str(h) for h in msg.get("session_hashes", ())},
        bool(msg.get("everything")),
    )
