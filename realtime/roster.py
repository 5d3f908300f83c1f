"""Presence glue: who attends which event here, who follows it, and the announcements.

A connection attends an event while it is subscribed to one of the event's channels
(counted per connection: ``Connection.event_refs``); it follows the event's presence
(``watching``) when it asked for it. This process's attendance goes to the others on
the control topic, changed entries each tick and everything now and then; the board
(realtime/protocol/presence.py) merges every process's view.
"""

from __future__ import annotations

import time
from typing import Any

from realtime.connection import Connection
from realtime.control import ControlTopic
from realtime.protocol.presence import LocalAttendance, PresenceBoard
from realtime.tasks import Tasks

PRESENCE_FULL_SECS = 20.0
PRESENCE_EXPIRY_SECS = 65.0


class Roster:
    def __init__(self, node: str, control: ControlTopic, tasks: Tasks) -> None:
        self.node = node
        self.control = control
        self.tasks = tasks
        self.attendance = LocalAttendance()
        self.board = PresenceBoard()
        self.watchers: dict[int, set[Connection]] = {}

    # A connection's subscriptions to an event's channels (realtime/fanout.py attach/detach).

    # Attendance is counted per attending subscription (``Sub.attends``: an admin's
    # review is not attendance); ``event_refs`` counts them all, for following presence.

    def joined(self, conn: Connection, event_id: int, *, attends: bool) -> None:
        conn.event_refs[event_id] = conn.event_refs.get(event_id, 0) + 1
        if attends:
            self.attendance.join(event_id, conn.user_id, conn.name)

    def left(self, conn: Connection, event_id: int, *, attends: bool) -> None:
        if attends:
            self.attendance.leave(event_id, conn.user_id)
        n = conn.event_refs[event_id] - 1
        if n:
            conn.event_refs[event_id] = n
        else:
            del conn.event_refs[event_id]
            self.unwatch(conn, event_id)

    # Following an event's presence.

    def watch(self, conn: Connection, event_id: int) -> None:
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

    def present(self, event_id: int) -> dict[int, str]:
        """Who attends the event now, on every process (the server API's presence read)."""
        att = self.attendance
        self.board.update(self.node, {ev: att.users(ev) for ev in att.dirty}, time.monotonic())
        return dict(self.board.snapshot(event_id))

    def unwatch(self, conn: Connection, event_id: int) -> None:
        if event_id not in conn.watching:
            return
        conn.watching.discard(event_id)
        watchers = self.watchers.get(event_id)
        if watchers is not None:
            watchers.discard(conn)
            if not watchers:
                del self.watchers[event_id]

    def forget(self, conn: Connection) -> None:
        for event_id in list(conn.watching):
            self.unwatch(conn, event_id)

    # Announcements (housekeeping's tick, the control topic).

    def announce(self, *, full: bool = False) -> None:
        now = time.monotonic()
        changed = self.attendance.everything() if full else self.attendance.take_dirty()
        if full:
            self.attendance.dirty = set()
        if changed or full:
            self.board.update(self.node, changed, now, full=full)
            events = {str(k): {str(u): n for u, n in v.items()} for k, v in changed.items()}
            self.tasks.spawn(
                self.control.send(
                    {"op": "presence", "node": self.node, "full": full, "events": events}
                ),
                "presence-announce",
            )

    def tick(self) -> None:
        """Announce this process's changes; tell the watchers who joined and who left."""
        self.announce()
        for event_id, joined, left in self.board.take_changes(set(self.watchers)):
            frame = {
                "type": "presence",
                "event": event_id,
                "joined": [{"id": u, "name": n} for u, n in sorted(joined.items())],
                "left": left,
            }
            for conn in list(self.watchers.get(event_id, ())):
                conn.push(frame)

    def refresh(self, now: float) -> None:
        """Send everything again (a process that missed a message catches up).

        Forget silent processes."""
        self.announce(full=True)
        self.board.expire(now, PRESENCE_EXPIRY_SECS, keep=self.node)

    def on_presence(self, msg: dict[str, Any]) -> None:
        node = str(msg.get("node") or "")
        events = {int(k): {int(u): str(n) for u, n in v.items()} for k, v in msg["events"].items()}
        self.board.update(node, events, time.monotonic(), full=bool(msg.get("full")))

    def drop_node(self, node: str) -> None:
        self.board.drop_node(node)
