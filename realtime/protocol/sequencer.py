"""In-order, gapless delivery of one channel's events at one process.

With several processes writing, the broker can hand this process seq 8 before
seq 7. The sequencer holds 8 until 7 arrives (or until the hub fills 7 from
the store after a short wait) and drops anything delivered before.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class HasSeq(Protocol):
    @property
    def seq(self) -> int: ...


T = TypeVar("T", bound=HasSeq)


class Sequencer(Generic[T]):
    __slots__ = ("delivered", "pending")

    def __init__(self, delivered: int) -> None:
        # The highest sequence handed on; the next to hand on is delivered + 1.
        self.delivered = delivered
        self.pending: dict[int, T] = {}

    def offer(self, item: T) -> list[T]:
        """Take one event; returns the events now deliverable, in order (often just it)."""
        seq = item.seq
        if seq <= self.delivered or seq in self.pending:
            return []  # a duplicate: delivered before, or already waiting
        if seq != self.delivered + 1:
            self.pending[seq] = item
            return []
        out = [item]
        self.delivered = seq
        if self.pending:
            out.extend(self._drain())
        return out

    def _drain(self) -> list[T]:
        out = []
        nxt = self.delivered + 1
        while nxt in self.pending:
            out.append(self.pending.pop(nxt))
            nxt += 1
        self.delivered = nxt - 1
        return out

    @property
    def gap(self) -> tuple[int, int] | None:
        """The missing range (first, last) before the earliest held event, if any."""
        if not self.pending:
            return None
        return self.delivered + 1, min(self.pending) - 1

    def fill(self, items: list[T]) -> list[T]:
        """Events read from the store to close a gap (or to catch up): in order, deduplicated."""
        out: list[T] = []
        for item in sorted(items, key=lambda i: i.seq):
            out.extend(self.offer(item))
        return out

    def skip_to(self, seq: int) -> list[T]:
        """Give up on everything up to ``seq`` (never happens while the store is intact)."""
        if seq > self.delivered:
            self.delivered = seq
            for s in [s for s in self.pending if s <= seq]:
                del self.pending[s]
        return self._drain()
