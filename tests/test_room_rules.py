"""The room controls' rules (realtime/room_rules.py) as plain functions of the room's state."""

from __future__ import annotations

import datetime as dt

from realtime.room_rules import Room, matched_word, verdict, word_pattern
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
