"""The rules of a Q&A, free of I/O: question states, the two orders, merging votes.

The repository (``storage/repo/qa.py``) and the web client apply these; the
synchronous tests in tests/test_qa_core.py drive them directly.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storage.errors import Conflict, DomainError

MAX_QUESTION_CHARS = 500


class State(enum.StrEnum):
    """A question's life: (PENDING ->) VISIBLE <-> HIDDEN; VISIBLE -> MERGED (final)."""

    PENDING = "pending"  # asked on a pre-moderated Q&A: its author and the trainers only
    VISIBLE = "visible"
    HIDDEN = "hidden"  # hidden by a trainer: its author and the trainers only
    MERGED = "merged"  # a duplicate, folded into ``merged_into`` with its votes


class Order(enum.StrEnum):
    VOTES = "votes"
    TIME = "time"


# Which trainer action moves a question from which state to which.
_MOVES: dict[str, tuple[frozenset[State], State]] = {
    "approve": (frozenset({State.PENDING}), State.VISIBLE),
    "hide": (frozenset({State.PENDING, State.VISIBLE}), State.HIDDEN),
    "unhide": (frozenset({State.HIDDEN}), State.VISIBLE),
}


def moved(state: State, action: str) -> State:
    """The state after ``action``; a refusal when the question is not in a state it applies to."""
    sources, target = _MOVES[action]
    if state not in sources:
        raise Conflict("bad_transition", f"a {state.value} question cannot be {action}d")
    return target


@dataclass(frozen=True, slots=True)
class Ranked:
    """What ordering looks at; ``id`` grows with the time of asking."""

    id: int
    votes: int
    pinned: bool = False
    answered: bool = False


def rank_key(q: Ranked, order: Order) -> tuple[int, int, int, int]:
    """Pinned first, then open questions before answered ones; within them the most votes
    first (a tie: asked first), or the newest first."""
    if order is Order.VOTES:
        return (not q.pinned, q.answered, -q.votes, q.id)
    return (not q.pinned, q.answered, 0, -q.id)


def ordered(questions: Iterable[Ranked], order: Order) -> list[Ranked]:
    return sorted(questions, key=lambda q: rank_key(q, order))


def top(questions: Iterable[Ranked], n: int) -> list[Ranked]:
    """The presenter's "top questions": the most voted open ones (pinned first)."""
    return [q for q in ordered(questions, Order.VOTES) if not q.answered][:n]


@dataclass(frozen=True, slots=True)
class MergePlan:
    moved_voters: frozenset[int]  # votes to add to the target (voted the source only)
    dropped_voters: frozenset[int]  # voted for both: their source vote simply goes
    votes_after: int  # the target's count afterwards: every voter of either, once


def plan_merge(source_voters: Iterable[int], target_voters: Iterable[int]) -> MergePlan:
    """Votes of a duplicate move to its target; a person who voted for both counts once."""
    src, dst = frozenset(source_voters), frozenset(target_voters)
    return MergePlan(src - dst, src & dst, len(src | dst))


def check_merge(
    source_id: int, source_state: State, source_board: int,
    target_id: int, target_state: State, target_board: int,
) -> None:
    if source_id == target_id:
        raise DomainError("bad_merge", "a question cannot be merged into itself", status=422)
    if source_board != target_board:
        raise DomainError("bad_merge", "both questions must be in the same Q&A", status=422)
    if source_state is State.MERGED:
        raise Conflict("bad_transition", "the question is merged already")
    if target_state is not State.VISIBLE:
        raise Conflict("bad_merge", "merge into a question the room can see")


def clean_question(text: str) -> str:
    value = text.strip()
    if not value:
        raise DomainError("empty", "the question has no text", status=422)
    if len(value) > MAX_QUESTION_CHARS:
        raise DomainError(
            "too_long", f"the question is over {MAX_QUESTION_CHARS} characters", status=422
        )
    return value


def visible_to(state: State, *, mine: bool, moderator: bool) -> bool:
    """Whether a viewer sees a question at all (a merged one: only as a pointer, in events)."""
    if state is State.VISIBLE:
        return True
    if state is State.MERGED:
        return False
    return mine or moderator


def vote_counts(rows: Sequence[tuple[int, int]]) -> dict[int, int]:
    """{question id: votes} from (question id, count) rows, for a ``qa.votes`` event."""
    return {qid: int(n) for qid, n in rows}
