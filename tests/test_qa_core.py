"""The Q&A rules without I/O: the two orders, the presenter's top questions, merging votes,
state changes and the question text."""

from __future__ import annotations

import pytest

from storage.errors import DomainError
from storage.qa_core import (
    MAX_QUESTION_CHARS,
    Order,
    Ranked,
    State,
    check_merge,
    clean_question,
    moved,
    ordered,
    plan_merge,
    top,
    visible_to,
)

QS = [
    Ranked(1, votes=3),
    Ranked(2, votes=5, answered=True),
    Ranked(3, votes=1, pinned=True),
    Ranked(4, votes=5),
    Ranked(5, votes=3),
    Ranked(6, votes=0),
]


def ids(qs: list[Ranked]) -> list[int]:
    return [q.id for q in qs]


def test_by_votes_pinned_first_answered_last_ties_by_age() -> None:
    assert ids(ordered(QS, Order.VOTES)) == [3, 4, 1, 5, 6, 2]


def test_by_time_pinned_first_answered_last_newest_first() -> None:
    assert ids(ordered(QS, Order.TIME)) == [3, 6, 5, 4, 1, 2]


def test_top_questions_leave_out_answered_ones() -> None:
    assert ids(top(QS, 3)) == [3, 4, 1]
    assert ids(top([Ranked(9, 1, answered=True)], 5)) == []


def test_a_merge_counts_every_voter_once() -> None:
    plan = plan_merge(source_voters=[1, 2, 3], target_voters=[3, 4])
    assert plan.moved_voters == {1, 2}
    assert plan.dropped_voters == {3}
    assert plan.votes_after == 4
    assert plan_merge([], [7]).votes_after == 1
    assert plan_merge([7], []).moved_voters == {7}


@pytest.mark.parametrize(
    ("source", "target", "code"),
    [
        ((1, State.VISIBLE, 1), (1, State.VISIBLE, 1), "bad_merge"),  # itself
        ((1, State.VISIBLE, 1), (2, State.VISIBLE, 9), "bad_merge"),  # another Q&A
        ((1, State.MERGED, 1), (2, State.VISIBLE, 1), "bad_transition"),
        ((1, State.VISIBLE, 1), (2, State.HIDDEN, 1), "bad_merge"),
        ((1, State.VISIBLE, 1), (2, State.MERGED, 1), "bad_merge"),
    ],
)
def test_merges_that_are_refused(
    source: tuple[int, State, int], target: tuple[int, State, int], code: str
) -> None:
    with pytest.raises(DomainError) as refused:
        check_merge(*source, *target)
    assert refused.value.code == code


def test_merges_that_are_allowed() -> None:
    check_merge(1, State.VISIBLE, 1, 2, State.VISIBLE, 1)
    check_merge(1, State.HIDDEN, 1, 2, State.VISIBLE, 1)  # a hidden duplicate, too
    check_merge(1, State.PENDING, 1, 2, State.VISIBLE, 1)


def test_state_changes() -> None:
    assert moved(State.PENDING, "approve") is State.VISIBLE
    assert moved(State.VISIBLE, "hide") is State.HIDDEN
    assert moved(State.PENDING, "hide") is State.HIDDEN
    assert moved(State.HIDDEN, "unhide") is State.VISIBLE
    for state, action in [(State.VISIBLE, "approve"), (State.VISIBLE, "unhide"),
                          (State.MERGED, "hide"), (State.MERGED, "approve")]:
        with pytest.raises(DomainError) as refused:
            moved(state, action)
        assert refused.value.code == "bad_transition"


def test_who_sees_a_question() -> None:
    assert visible_to(State.VISIBLE, mine=False, moderator=False)
    assert not visible_to(State.PENDING, mine=False, moderator=False)
    assert visible_to(State.PENDING, mine=True, moderator=False)
    assert visible_to(State.HIDDEN, mine=False, moderator=True)
    assert not visible_to(State.MERGED, mine=True, moderator=True)


def test_the_question_text() -> None:
    assert clean_question("  Why?  ") == "Why?"
    for bad in ("", "   ", "x" * (MAX_QUESTION_CHARS + 1)):
        with pytest.raises(DomainError):
            clean_question(bad)
