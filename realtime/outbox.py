"""A connection's bounded outbox: pending frames, with waiting events joined into one frame."""

from __future__ import annotations

from realtime.codec import Codec, Wire, WireEvent


class Outbox:
    """Items are WireEvents (joinable) or ready control frames, kept in order.

    ``events`` counts queued events only: the bound is on what fan-out puts in,
    a client cannot grow it by sending requests faster than it reads answers
    beyond the same bound.
    """

    __slots__ = ("codec", "items", "limit", "size")

    def __init__(self, codec: Codec, limit: int) -> None:
        self.codec = codec
        self.items: list[WireEvent | Wire] = []
        self.limit = limit
        self.size = 0

    def push_event(self, ev: WireEvent) -> bool:
        """Queue an event; False when the outbox is over its bound (shed the connection)."""
        self.items.append(ev)
        self.size += 1
        return self.size <= self.limit

    def push_frame(self, frame: Wire) -> bool:
        self.items.append(frame)
        self.size += 1
        return self.size <= self.limit

    def __bool__(self) -> bool:
        return bool(self.items)

    def take_frames(self) -> tuple[list[Wire], int]:
        """Everything queued, as frames to send: runs of events become one batch frame.

        Returns the frames and how many events went into batch/event frames.
        """
        items, self.items, self.size = self.items, [], 0
        codec = self.codec
        frames: list[Wire] = []
        run: list[Wire] = []
        events = 0
        for item in items:
            if type(item) is WireEvent:
                run.append(item.encoded(codec))
                continue
            if run:
                frames.append(codec.event_frame(run[0]) if len(run) == 1 else codec.batch_frame(run))
                events += len(run)
                run = []
            frames.append(item)  # type: ignore[arg-type]
        if run:
            frames.append(codec.event_frame(run[0]) if len(run) == 1 else codec.batch_frame(run))
            events += len(run)
        return frames, events
