"""The room controls' rules (realtime/room_rules.py) as plain functions of the room's state,
and the per-process cache of that state (one store read per room until dropped or expired)."""

from __future__ import annotations

import datetime as dt

import pytest

from realtime.room_rules import Room, RoomRules, matched_word, verdict, word_pattern
from storage.repo.room_controls import RoomSnapshot, clean_words

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
TRAINER, PAT, QUINN = 1, 2, 3


def room(**kw: object) -> Room:
    return Room.of(RoomSnapshot(7, staff=frozenset({TRAINER}), **kw))  # type: ignore[arg-type]


def test_an_open_room_lets_everyone_post() -> None:
    assert verdict(room(), PAT, now=NOW, since_last=0.0) is None


def test_a_mute_refuses_until_its_time_with_the_until_time() -> None:
    until = NOW + dt.timedelta(minutes=15)
    r = room(mutes=((PAT, until),))
    refusal = verdict(r, PAT, now=NOW, since_last=None)
    assert refusal is not None and refusal.code == "muted"
    assert refusal.until == until.isoformat() and refusal.retry_after == 900
    assert verdict(r, QUINN, now=NOW, since_last=None) is None
    assert verdict(r, PAT, now=until, since_last=None) is None  # over at its time


def test_slow_mode_counts_from_the_last_post_and_exempts_trainers() -> None:
    r = room(slow_secs=30)
    assert verdict(r, PAT, now=NOW, since_last=None) is None  # no post remembered
    refusal = verdict(r, PAT, now=NOW, since_last=10.0)
    assert refusal is not None and refusal.code == "slow_mode" and refusal.retry_after == 20
    assert verdict(r, PAT, now=NOW, since_last=30.0) is None
    assert verdict(r, TRAINER, now=NOW, since_last=0.0) is None


def test_a_frozen_room_lets_only_trainers_post() -> None:
    r = room(frozen=True)
    refusal = verdict(r, PAT, now=NOW, since_last=None)
    assert refusal is not None and refusal.code == "frozen"
    assert verdict(r, TRAINER, now=NOW, since_last=None) is None
    # Freeze first: a muted person in a frozen room hears why nobody may post.
    frozen_and_muted = room(frozen=True, mutes=((PAT, NOW + dt.timedelta(minutes=1)),))
    refusal = verdict(frozen_and_muted, PAT, now=NOW, since_last=None)
    assert refusal is not None and refusal.code == "frozen"


def test_the_error_frame_carries_code_retry_after_and_until() -> None:
    until = NOW + dt.timedelta(minutes=5)
    refusal = verdict(room(mutes=((PAT, until),)), PAT, now=NOW, since_last=None)
    assert refusal is not None
    frame = refusal.error("c1", "event:7:chat").frame()
    assert frame == {
        "type": "error", "code": "muted", "message": refusal.message, "id": "c1",
        "channel": "event:7:chat", "retry_after": 300.0, "until": until.isoformat(),
    }


def test_words_match_whole_words_and_phrases_in_any_case() -> None:
    pattern = word_pattern(clean_words(["Darn", "  no   WAY ", "darn", "", "c++"]))
    assert clean_words(["Darn", "  no   WAY ", "darn", ""]) == ["darn", "no way"]
    assert matched_word(pattern, {"text": "Oh DARN it"}) == "darn"
    assert matched_word(pattern, {"text": "no way!"}) == "no way"
    assert matched_word(pattern, {"text": "a darning needle"}) is None
    assert matched_word(pattern, {"text": "I like c++ a lot"}) == "c++"  # escaped, not a regex
    assert matched_word(pattern, {"text": 5}) is None
    assert matched_word(pattern, "not a dict") is None
    assert word_pattern([]) is None and matched_word(None, {"text": "darn"}) is None


async def test_the_cache_reads_a_room_once_until_dropped_or_expired(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One store read per room; ``invalidate`` (a ``room_changed`` message) and the expiry
    each cause exactly one more; a mute stored meanwhile is enforced after either."""
    from realtime import room_rules
    from realtime.brokers.memory import MemoryBroker
    from realtime.protocol.errors import ProtocolError
    from storage.channels import parse_channel
    from storage.models import Role, RoomMute, utcnow
    from tests.hub_support import World

    world = World(db_url)
    try:
        p, _ = await world.user("Pat")
        ev = await world.event((p, Role.PARTICIPANT))
        ref = parse_channel(f"event:{ev}:chat")
        assert ref is not None

        async def nothing(events: object) -> None:
            return None

        rules = RoomRules(world.db, MemoryBroker(), nothing)
        for i in range(3):
            assert await rules.check(p, ref, ref.name, f"a{i}", None, {"text": "hi"}) is None
        assert rules.loads == 1
        async with world.db.session() as db:
            db.add(RoomMute(event_id=ev, user_id=p, until=utcnow() + dt.timedelta(minutes=5)))
        # Not told: the cached room still lets the post through.
        assert await rules.check(p, ref, ref.name, "b", None, {"text": "hi"}) is None
        rules.invalidate(ev)
        with pytest.raises(ProtocolError) as refused:
            await rules.check(p, ref, ref.name, "c", None, {"text": "hi"})
        assert refused.value.code == "muted" and rules.loads == 2
        # Expiry: a room older than ROOM_CACHE_SECS is read again.
        monkeypatch.setattr(room_rules, "ROOM_CACHE_SECS", -1.0)
        rules.invalidate(ev)
        for i in range(2):
            with pytest.raises(ProtocolError):
                await rules.check(p, ref, ref.name, f"d{i}", None, {"text": "hi"})
        assert rules.loads == 4
    finally:
        await world.close()
