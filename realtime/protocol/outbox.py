"""A connection's bounded outbox: pending frames, with waiting events joined into one frame."""

from __future__ import annotations

from realtime.protocol.codec import MAX_BATCH_BYTES, Codec, Wire, WireEvent, shared_frame
from realtime.protocol.wsframe import ws_frame


class Outbox:
    """Items are WireEvents (joinable) or ready control frames, kept in order.

    ``push_*`` return False once more than ``limit`` items wait; the connection
    decides whether that means "shed" (only while its socket is not taking bytes).
    """

    __slots__ = ("codec", "items", "limit", "size")

    def __init__(self, codec: Codec, limit: int) -> None:
        self.codec = codec
        self.items: list[WireEvent | Wire] = []
        self.limit = limit
        self.size = 0

    def push_event(self, ev: WireEvent) -> bool:
        """Queue an event; False when the outbox is over its bound."""
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
        run_bytes = 0
        events = 0
        for item in items:
            if type(item) is WireEvent:
                data = item.encoded(codec)
                run.append(data)
                run_bytes += len(data)
                if run_bytes < MAX_BATCH_BYTES:
                    continue
                # Keep frames small enough for any client's receive limit (1 MiB is common).
                frames.append(
                    codec.event_frame(run[0]) if len(run) == 1 else codec.batch_frame(run)
                )
                events += len(run)
                run = []
                run_bytes = 0
                continue
            if run:
                frames.append(
                    codec.event_frame(run[0]) if len(run) == 1 else codec.batch_frame(run)
                )
                events += len(run)
                run = []
            run_bytes = 0
            frames.append(item)  # type: ignore[arg-type]
        if run:
            frames.append(codec.event_frame(run[0]) if len(run) == 1 else codec.batch_frame(run))
            events += len(run)
        return frames, events

    def take_ws_frames(self) -> tuple[bytes, int, int]:
        """Everything queued as ready WebSocket frame bytes (for a raw socket write).

        Returns (bytes, frames, events). Each run of events becomes the same frames
        fan-out would build for it (``codec.shared_frame``: a lone event's cached frame,
        else batches under ``MAX_BATCH_BYTES``).
        """
        items, self.items, self.size = self.items, [], 0
        codec = self.codec
        binary = codec.binary
        out: list[bytes] = []
        run: list[WireEvent] = []
        frames = events = 0
        for item in items:
            if type(item) is WireEvent:
                run.append(item)
                continue
            if run:
                data, n = shared_frame(run, codec)
                out.append(data)
                frames += n
                events += len(run)
                run = []
            # Not a WireEvent: a control frame encoded by push (bytes or str).
            out.append(ws_frame(item, binary))  # type: ignore[arg-type]
            frames += 1
        if run:
            data, n = shared_frame(run, codec)
            out.append(data)
            frames += n
            events += len(run)
        return b"".join(out), frames, events
