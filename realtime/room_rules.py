"""The trainers' room controls on the publish path: mute, slow mode, freeze and the word list.

Each process keeps each room's state (``storage.repo.room_controls.RoomSnapshot``) after
reading it once, so a publish costs no query: the rules below are plain functions of that
state, the clock and the sender's last post. A change anywhere (``Hub.room_changed``) drops
the room here and on every other process over the control topic (``room_changed``); the
next publish reads it again. A load that began before a change is not kept (generations),
so a process never keeps the state from before a mute it was told of.

Slow mode counts the sender's last post in this process, and with Redis also across
processes (one ``SET NX`` per post, only in rooms with slow mode on).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from realtime.brokers import Broker
from realtime.protocol.errors import ProtocolError
from storage.channels import ChannelKind, ChannelRef
from storage.db import Database
from storage.repo import room_held
from storage.repo.channel_log import StoredEvent
from storage.repo.room_controls import RoomSnapshot, load_room, room_of

# The kinds of channel whose posts the rules apply to (board posts: web/routes).
RULED = (ChannelKind.CHAT, ChannelKind.GROUP)
CACHE_MAX = 20_000
# A cached room is read again after this long even without a ``room_changed`` message:
# the control topic is Redis pub/sub (at most once), and a message lost without a
# reconnect (which drops every room) must not leave a mute unenforced for long.
ROOM_CACHE_SECS = 30.0


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str
    retry_after: float | None = None
    until: str | None = None

    def error(self, request_id: str | None, channel: str) -> ProtocolError:
        extra: dict[str, object] | None = (
            {"until": self.until} if self.until is not None else None
        )
        return ProtocolError(
            self.code, self.message, request_id=request_id, channel=channel,
            retry_after=self.retry_after, extra=extra,
        )


@dataclass(frozen=True, slots=True)
class Room:
    """One room's state as the rules read it."""

    snapshot: RoomSnapshot
    pattern: re.Pattern[str] | None
    mutes: Mapping[int, dt.datetime]
    idle: bool  # no control on: the common case, decided without looking further
    expires: float = float("inf")  # monotonic time to read it again (``ROOM_CACHE_SECS``)

    @classmethod
    def of(cls, snapshot: RoomSnapshot, expires: float = float("inf")) -> Room:
        s = snapshot
        idle = not (s.frozen or s.slow_secs or s.words or s.mutes)
        return cls(s, word_pattern(s.words), dict(s.mutes), idle, expires)


def word_pattern(words: tuple[str, ...] | list[str]) -> re.Pattern[str] | None:
    """Whole words or phrases, case-insensitively (``ass`` does not match ``class``)."""
    alternatives = [re.escape(w.casefold()) for w in words if w.strip()]
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def matched_word(pattern: re.Pattern[str] | None, body: Any) -> str | None:
    if pattern is None:
        return None
    text = body.get("text") if isinstance(body, dict) else body
    if not isinstance(text, str):
        return None
    m = pattern.search(text.casefold())
    return m.group(0) if m else None


def verdict(
    room: Room, user_id: int, *, now: dt.datetime, since_last: float | None
) -> Refusal | None:
    """Why ``user_id`` may not post in ``room`` now (None: they may). ``since_last``: seconds
    since their last post here (None: none remembered). Trainers and organisers are exempt."""
    snap = room.snapshot
    if user_id in snap.staff:
        return None
    if snap.frozen:
        return Refusal("frozen", "the chat is frozen: only trainers may post now")
    until = room.mutes.get(user_id)
    if until is not None and until > now:
        return Refusal(
            "muted", f"a trainer muted you until {until.strftime('%H:%M')} UTC",
            retry_after=(until - now).total_seconds(), until=until.isoformat(),
        )
    if snap.slow_secs and since_last is not None and since_last < snap.slow_secs:
        wait = snap.slow_secs - since_last
        return Refusal(
            "slow_mode", f"slow mode: one message per {snap.slow_secs} s; retry in {wait:.0f} s",
            retry_after=wait,
        )
    return None


@dataclass(frozen=True, slots=True)
class Held:
    held_id: int


Broadcast = Callable[[list[StoredEvent]], Awaitable[None]]


class RoomRules:
    def __init__(self, db: Database, broker: Broker, broadcast: Broadcast) -> None:
        self.db = db
        self.broker = broker
        self.broadcast = broadcast
        self._rooms: dict[int, Room] = {}
        self._generation: dict[int, int] = {}
        self._channel_room: dict[str, int | None] = {}
        # (event, user) -> (monotonic time, client id) of their last post that passed.
        self._last: dict[tuple[int, int], tuple[float, str]] = {}
        self.loads = 0  # rooms read from the store (tests: a publish reads none)

    def invalidate(self, event_id: int) -> None:
        self._rooms.pop(event_id, None)
        self._generation[event_id] = self._generation.get(event_id, 0) + 1

    def invalidate_all(self) -> None:
        for event_id in list(self._rooms):
            self.invalidate(event_id)

    async def room(self, event_id: int) -> Room:
        room = self._rooms.get(event_id)
        if room is not None:
            return room
        generation = self._generation.get(event_id, 0)
        async with self.db.session() as db:
            snapshot = await load_room(db, event_id)
        self.loads += 1
        room = Room.of(snapshot, time.monotonic() + ROOM_CACHE_SECS)
        if self._generation.get(event_id, 0) == generation:
            if len(self._rooms) >= CACHE_MAX:
                self._rooms.clear()
            self._rooms[event_id] = room
        return room

    async def event_of(self, ref: ChannelRef, name: str) -> int | None:
        """The event whose room ``ref`` (named ``name``) is in (cached: a group's event
        never changes)."""
        if name in self._channel_room:
            return self._channel_room[name]
        async with self.db.session() as db:
            event_id = await room_of(db, ref)
        if len(self._channel_room) >= CACHE_MAX:
            self._channel_room.clear()
        self._channel_room[name] = event_id
        return event_id

    async def check(
        self, user_id: int, ref: ChannelRef, channel: str, client_id: str, ref_id: int | None,
        body: dict[str, Any],
    ) -> Held | None:
        """Raise the refusal of this post to ``channel`` (``ref``, parsed), hold it for
        review (``Held``), or None: publish."""
        if ref.kind not in RULED:
            return None
        # Cached: two dict lookups and nothing awaited (no store access, no Redis).
        event_id = self._channel_room.get(channel, -1)
        if event_id == -1:
            event_id = await self.event_of(ref, channel)
        if event_id is None:
            return None
        room = self._rooms.get(event_id)
        now = time.monotonic()
        if room is None or room.expires < now:
            self._rooms.pop(event_id, None)
            room = await self.room(event_id)
        if room.idle:
            return None
        key = (event_id, user_id)
        last = self._last.get(key)
        # A retry of the post that passed last (a lost ack) is not a second post.
        retry = last is not None and last[1] == client_id
        since_last = None if last is None or retry else now - last[0]
        refusal = verdict(room, user_id, now=dt.datetime.now(dt.UTC), since_last=since_last)
        if refusal is not None:
            raise refusal.error(client_id, channel)
        snap = room.snapshot
        if user_id in snap.staff:
            return None
        if snap.slow_secs and not retry:
            if not await self.broker.claim_once(f"slow:{event_id}:{user_id}", snap.slow_secs):
                raise Refusal(
                    "slow_mode", f"slow mode: one message per {snap.slow_secs} s",
                    retry_after=float(snap.slow_secs),
                ).error(client_id, channel)
            if len(self._last) >= CACHE_MAX:
                self._last.clear()
            self._last[key] = (now, client_id)
        word = matched_word(room.pattern, body)
        if word is None:
            return None
        async with self.db.session() as db:
            held, notices = await room_held.hold(
                db, event_id=event_id, channel=channel, author_id=user_id,
                client_id=client_id, ref_id=ref_id, body=body, word=word, staff=snap.staff,
            )
            held_id = held.id
        await self.broadcast(notices)
        return Held(held_id)
