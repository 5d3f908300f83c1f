"""One subscription's way from "replaying the store" to "live", without gap or duplicate.

The hub attaches the subscription to the channel's live feed first; while the
store is read, live events collect in the buffer. ``finish`` joins replay and
buffer at the boundary. If the store was ahead of this process's feed (events
committed elsewhere, not yet arrived through the broker), the subscription
stays CATCHING_UP and drops live events it already got from the replay.
"""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

from realtime.protocol.sequencer import HasSeq

T = TypeVar("T", bound=HasSeq)


class SubState(enum.Enum):
    RECOVERING = "recovering"
    CATCHING_UP = "catching_up"
    LIVE = "live"


class Recovery(Generic[T]):
    __slots__ = ("buffer", "cursor", "state")

    def __init__(self) -> None:
        self.state = SubState.RECOVERING
        self.buffer: list[T] = []
        # The highest sequence this subscriber has been given.
        self.cursor = 0

    def offer(self, item: T) -> list[T]:
        """A live event from the feed (in order, gapless); returns what to send now."""
        if self.state is SubState.RECOVERING:
            self.buffer.append(item)
            return []
        if item.seq <= self.cursor:
            return []
        self.state = SubState.LIVE
        self.cursor = item.seq
        return [item]

    def finish(self, start: int, replayed: list[T], feed_delivered: int) -> list[T]:
        """End the replay; returns the events to send, in order.

        ``start``: the subscriber has everything up to it (``since`` when
        recovering; the channel's head when it asked for none or must reload).
        ``replayed``: the store's events after ``start``. ``feed_delivered``: the
        highest sequence the channel's feed has handed on so far.
        """
        if self.state is not SubState.RECOVERING:
            raise RuntimeError(f"finish() in state {self.state}")
        out: list[T] = []
        cursor = start
        for item in replayed:
            if item.seq == cursor + 1:
                out.append(item)
                cursor = item.seq
            elif item.seq > cursor + 1:
                raise RuntimeError(f"replay has a gap after {cursor} (next {item.seq})")
        for item in self.buffer:
            if item.seq <= cursor:
                continue
            if item.seq != cursor + 1:
                # The feed attached before the store was read, so it cannot start later
                # than the replay ends; reaching here is a bug in the caller.
                raise RuntimeError(f"live buffer starts at {item.seq}, replay ends at {cursor}")
            out.append(item)
            cursor = item.seq
        self.buffer = []
        self.cursor = cursor
        self.state = SubState.LIVE if feed_delivered >= cursor else SubState.CATCHING_UP
        return out
