"""Attendance per event across processes, with coalesced joins and leaves.

Each process counts its own connections per (event, user) (``LocalAttendance``)
and announces the user set of every event that changed, at most once per tick,
on the control topic. Every process merges the announcements of all processes
(``PresenceBoard``) and tells its watchers what changed since it last told
them: a leave and re-join within one tick cancel out, and a class arriving
becomes one frame. A process that stops announcing expires.
"""

from __future__ import annotations

Users = dict[int, str]


class LocalAttendance:
    __slots__ = ("counts", "dirty", "names")

    def __init__(self) -> None:
        self.counts: dict[int, dict[int, int]] = {}
        self.names: dict[int, str] = {}
        self.dirty: set[int] = set()

    def join(self, event_id: int, user_id: int, name: str) -> None:
        per_event = self.counts.setdefault(event_id, {})
        n = per_event.get(user_id, 0)
        per_event[user_id] = n + 1
        self.names[user_id] = name
        if n == 0:
            self.dirty.add(event_id)

    def leave(self, event_id: int, user_id: int) -> None:
        per_event = self.counts.get(event_id)
        if per_event is None or user_id not in per_event:
            raise RuntimeError(f"leave without join: event {event_id} user {user_id}")
        n = per_event[user_id] - 1
        if n:
            per_event[user_id] = n
            return
        del per_event[user_id]
        if not per_event:
            del self.counts[event_id]
        self.dirty.add(event_id)

    def users(self, event_id: int) -> Users:
        return {uid: self.names.get(uid, "") for uid in self.counts.get(event_id, ())}

    def take_dirty(self) -> dict[int, Users]:
        out = {ev: self.users(ev) for ev in self.dirty}
        self.dirty = set()
        return out

    def everything(self) -> dict[int, Users]:
        return {ev: self.users(ev) for ev in self.counts}


class PresenceBoard:
    __slots__ = ("changed", "heard", "nodes", "published")

    def __init__(self) -> None:
        self.nodes: dict[str, dict[int, Users]] = {}
        self.heard: dict[str, float] = {}
        # What this process's watchers have been told, per event.
        self.published: dict[int, Users] = {}
        self.changed: set[int] = set()

    def update(
        self, node: str, events: dict[int, Users], now: float, *, full: bool = False
    ) -> None:
        """Apply a node's announcement; ``full`` replaces everything it had."""
        mine = self.nodes.setdefault(node, {})
        self.heard[node] = now
        if full:
            for ev in set(mine) - set(events):
                del mine[ev]
                self.changed.add(ev)
        for ev, users in events.items():
            if mine.get(ev, {}) != users:
                self.changed.add(ev)
            if users:
                mine[ev] = dict(users)
            else:
                mine.pop(ev, None)

    def drop_node(self, node: str) -> None:
        gone = self.nodes.pop(node, {})
        self.heard.pop(node, None)
        self.changed.update(gone)

    def expire(self, now: float, max_age: float, keep: str) -> list[str]:
        stale = [n for n, t in self.heard.items() if n != keep and now - t > max_age]
        for node in stale:
            self.drop_node(node)
        return stale

    def current(self, event_id: int) -> Users:
        out: Users = {}
        for events in self.nodes.values():
            users = events.get(event_id)
            if users:
                out.update(users)
        return out

    def snapshot(self, event_id: int) -> Users:
        """What a new watcher is told first; later changes are relative to it."""
        pub = self.published.get(event_id)
        if pub is None:
            pub = self.published[event_id] = self.current(event_id)
        return dict(pub)

    def take_changes(self, watched: set[int]) -> list[tuple[int, Users, list[int]]]:
        """(event, joined, left) for every watched event whose attendance changed."""
        out = []
        for ev in self.changed:
            pub = self.published.get(ev)
            if pub is None or ev not in watched:
                continue
            cur = self.current(ev)
            joined = {u: n for u, n in cur.items() if u not in pub}
            left = sorted(u for u in pub if u not in cur)
            if joined or left:
                out.append((ev, joined, left))
            self.published[ev] = cur
        self.changed = set()
        for ev in [ev for ev in self.published if ev not in watched]:
            del self.published[ev]
        return out
