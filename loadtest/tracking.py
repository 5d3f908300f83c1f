"""Accounting of deliveries by channel sequence, per connection and channel.

Every channel has a gapless sequence, so a connection that subscribed after
``since`` must end up with exactly the events ``since+1 .. last``: anything
missing is lost, anything seen twice is a duplicate, anything arriving after a
higher sequence is out of order. The fast path (the next sequence in order)
is one comparison and one assignment.
"""

from __future__ import annotations

from dataclasses import dataclass


class ChannelCursor:
    __slots__ = ("ahead", "contig", "dups", "max_seen", "ooo", "replayed", "since")

    def __init__(self, since: int) -> None:
        self.since = since  # the sequence the connection first subscribed after
        self.contig = since  # every seq <= contig has arrived
        self.ahead: set[int] = set()  # arrived, but above a gap
        self.max_seen = since
        self.dups = 0
        self.ooo = 0
        # Seqs we held above a gap when we resubscribed: the replay may send them again,
        # which is our request, not the server's duplicate.
        self.replayed: set[int] = set()

    def see(self, seq: int) -> bool:
        """Record one delivery; True when it is new."""
        if seq == self.contig + 1:
            self.contig = seq
            if self.ahead:
                ahead = self.ahead
                while self.contig + 1 in ahead:
                    self.contig += 1
                    ahead.discard(self.contig)
            if seq < self.max_seen:
                self.ooo += 1
            else:
                self.max_seen = seq
            return True
        if seq <= self.contig or seq in self.ahead:
            if seq in self.replayed:
                self.replayed.discard(seq)
            else:
                self.dups += 1
            return False
        self.ahead.add(seq)
        if seq < self.max_seen:
            self.ooo += 1
        else:
            self.max_seen = seq
        return True

    def resume_point(self) -> int:
        """The ``since`` to resubscribe with after a reconnect."""
        self.replayed = set(self.ahead)
        return self.contig

    @property
    def unique(self) -> int:
        return self.contig - self.since + len(self.ahead)

    def caught_up(self, last: int) -> bool:
        return self.contig >= last

    def summary(self, last: int) -> CursorSummary:
        """The account against the channel's final sequence ``last``."""
        expected = max(0, last - self.since)
        got = sum(1 for s in self.ahead if s <= last) + min(self.contig, last) - self.since
        return CursorSummary(
            expected=expected,
            received=got,
            lost=max(0, expected - got),
            dups=self.dups,
            out_of_order=self.ooo,
        )


@dataclass(frozen=True, slots=True)
class CursorSummary:
    expected: int
    received: int
    lost: int
    dups: int
    out_of_order: int
