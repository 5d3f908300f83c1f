"""The protocol core, driven synchronously: sequencer, recovery, token bucket, presence,
outbox."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.protocol.codec import JSON, WireEvent
from realtime.protocol.outbox import Outbox
from realtime.protocol.presence import LocalAttendance, PresenceBoard
from realtime.protocol.ratelimit import TokenBucket
from realtime.protocol.recovery import Recovery, SubState
from realtime.protocol.sequencer import Sequencer
from tests.protocol_support import E, stored

# Sequencer.

def test_sequencer_orders_and_drops_duplicates() -> None:
    s: Sequencer[E] = Sequencer(10)
    assert s.offer(E(10)) == [] and s.offer(E(9)) == []  # delivered before
    assert s.offer(E(12)) == [] and s.gap == (11, 11)
    assert s.offer(E(12)) == []  # already waiting
    assert [e.seq for e in s.offer(E(11))] == [11, 12] and s.gap is None
    assert s.offer(E(15)) == [] and s.offer(E(14)) == [] and s.gap == (13, 13)
    assert [e.seq for e in s.fill([E(13), E(14)])] == [13, 14, 15]
    assert s.delivered == 15


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(st.permutations(list(range(1, 60))), st.lists(st.integers(1, 59), max_size=20))
def test_sequencer_delivers_any_arrival_order_exactly_once_in_order(
    order: list[int], dups: list[int]
) -> None:
    s: Sequencer[E] = Sequencer(0)
    out: list[int] = []
    for seq in order + dups:
        out.extend(e.seq for e in s.offer(E(seq)))
    assert out == list(range(1, 60))


# Recovery at the replay/live boundary.

def test_recovery_joins_replay_and_buffer_without_gap_or_duplicate() -> None:
    r: Recovery[E] = Recovery()
    for seq in (6, 7, 8):  # live events that arrived while the store was read
        assert r.offer(E(seq)) == []
    # The store had up to 7 when read: 6 and 7 overlap the buffer.
    out = r.finish(start=3, replayed=[E(4), E(5), E(6), E(7)], feed_delivered=8)
    assert [e.seq for e in out] == [4, 5, 6, 7, 8]
    assert r.state is SubState.LIVE and r.cursor == 8


def test_recovery_catches_up_when_the_store_is_ahead_of_the_feed() -> None:
    r: Recovery[E] = Recovery()
    out = r.finish(start=3, replayed=[E(4), E(5)], feed_delivered=3)
    assert [e.seq for e in out] == [4, 5] and r.state is SubState.CATCHING_UP
    assert r.offer(E(4)) == [] and r.offer(E(5)) == []  # got them from the replay already
    # mypy keeps r.state narrowed to CATCHING_UP from above; offer() moved it on
    assert [e.seq for e in r.offer(E(6))] == [6] and r.state is SubState.LIVE  # type: ignore[comparison-overlap]


def test_recovery_without_since_starts_at_head() -> None:
    r: Recovery[E] = Recovery()
    r.offer(E(5))
    r.offer(E(6))
    assert [e.seq for e in r.finish(start=5, replayed=[], feed_delivered=6)] == [6]


def test_recovery_detects_a_hole_instead_of_hiding_it() -> None:
    r: Recovery[E] = Recovery()
    r.offer(E(9))
    with pytest.raises(RuntimeError):
        r.finish(start=3, replayed=[E(4)], feed_delivered=9)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))
def test_recovery_boundary_property(since: int, head_extra: int, feed_lag: int) -> None:
    """Whatever the store and the feed had at the boundary,
    the subscriber sees since+1.. exactly once."""
    head = since + head_extra  # the store's head when read
    feed_at_attach = max(0, head - feed_lag)  # the feed can only be behind the store
    r: Recovery[E] = Recovery()
    delivered = feed_at_attach
    got: list[int] = []
    # The feed moves on while the store is read; it never passes what is committed (head + 5 here).
    for seq in range(feed_at_attach + 1, head + 3):
        got += [e.seq for e in r.offer(E(seq))]
        delivered = seq
    got += [e.seq for e in r.finish(since, [E(s) for s in range(since + 1, head + 1)], delivered)]
    for seq in range(delivered + 1, head + 6):
        got += [e.seq for e in r.offer(E(seq))]
    assert got == list(range(since + 1, head + 6))


# Token bucket.

def test_token_bucket() -> None:
    b = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [b.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(0.0) == pytest.approx(0.5)
    assert b.take(0.5) == 0.0 and b.take(0.5) > 0
    assert b.full(10.0)


# Presence.

def test_presence_counts_connections_and_coalesces() -> None:
    local = LocalAttendance()
    board = PresenceBoard()
    local.join(1, 7, "Ada")
    local.join(1, 7, "Ada")  # a second tab
    board.update("n1", local.take_dirty(), 0.0)
    assert board.snapshot(1) == {7: "Ada"}
    local.leave(1, 7)
    assert local.take_dirty() == {}  # still one tab open
    local.leave(1, 7)
    local.join(1, 7, "Ada")  # left and came back within one tick
    board.update("n1", local.take_dirty(), 1.0)
    assert board.take_changes({1}) == []
    local.join(1, 8, "Bob")
    local.join(1, 9, "Cy")
    board.update("n1", local.take_dirty(), 2.0)
    board.update("n2", {1: {10: "Di"}}, 2.0)
    assert board.take_changes({1}) == [(1, {8: "Bob", 9: "Cy", 10: "Di"}, [])]
    board.expire(100.0, 65.0, keep="n1")  # n2 went silent
    assert board.take_changes({1}) == [(1, {}, [10])]
    with pytest.raises(RuntimeError):
        local.leave(2, 7)


def test_presence_full_announcement_replaces_a_nodes_view() -> None:
    board = PresenceBoard()
    board.update("n2", {1: {5: "E"}, 2: {6: "F"}}, 0.0)
    assert board.snapshot(2) == {6: "F"}
    board.update("n2", {1: {5: "E"}}, 1.0, full=True)
    assert board.take_changes({2}) == [(2, {}, [6])]


# Outbox.

def test_outbox_joins_waiting_events_and_keeps_frame_order() -> None:
    box = Outbox(JSON, limit=5)
    evs = [WireEvent(stored(s), "Ada") for s in (1, 2, 3)]
    assert box.push_frame('{"type":"ack"}')
    assert box.push_event(evs[0]) and box.push_event(evs[1])
    assert box.push_frame('{"type":"pong"}')
    assert box.push_event(evs[2])
    assert not box.push_event(evs[0])  # over the bound: the caller sheds the connection
    frames, n = box.take_frames()
    kinds = [json.loads(f)["type"] for f in frames]
    assert kinds == ["ack", "batch", "pong", "batch"] and n == 4
    assert not box and box.take_frames() == ([], 0)
