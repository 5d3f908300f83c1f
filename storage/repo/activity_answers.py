"""Answers to polls and word clouds: stored in batches, tallied, exported, scored, erased.

``answer_many`` is the ``transact`` of the answers' batch writer
(``web/activity_live.py`` over ``storage/batch_writer.py``): one transaction for a
burst of answers, one outcome per request (a refusal is a ``DomainError`` outcome).
It locks the activities it touches (in id order, so two processes never deadlock):
a trainer's close takes the same lock, so no answer lands after the close
committed; and it bumps each activity's ``version`` by the answers it stored, so
a tally (``read_tally``: version and answers in one statement, one snapshot)
says how new it is. A person's second answer is refused unless the activity lets
answers change; the unique (activity, person) constraint backs this across
processes (the writer then retries the batch one by one, and the loser is
answered as a second answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.activity_core import (
    Kind,
    PollShape,
    QuizScore,
    State,
    check_choices,
    check_term,
    is_correct,
    quiz_scores,
    tally_choices,
    tally_terms,
)
from storage.errors import Conflict, DomainError, Forbidden, NotFound
from storage.models import Activity, ActivityAnswer, User, utcnow
from storage.repo.activities import effective_state


@dataclass(frozen=True)
class AnswerRequest:
    user: User
    activity_id: int
    choices: tuple[int, ...] = ()  # a poll
    text: str = ""  # a word cloud


@dataclass(frozen=True)
class Answered:
    activity_id: int
    channel_event: int  # the activity's event, for the tally's channel
    answer: dict[str, Any]
    changed: bool  # an earlier answer was replaced


AnswerOutcome = Answered | DomainError


def answer_view(activity: Activity, row: ActivityAnswer) -> dict[str, Any]:
    out: dict[str, Any] = {
        "activity_id": activity.id,
        "choices": list(row.choices),
        "text": row.text,
        "term": row.term,
        "answered_at": row.updated_at.isoformat(),
    }
    if activity.correct and activity.results_shown:
        out["correct"] = is_correct(row.choices, activity.correct)
    return out


@dataclass
class _Batch:
    activities: dict[int, Activity]
    existing: dict[tuple[int, int], ActivityAnswer]
    viewers: dict[tuple[int, int, int | None], authz_board.BoardViewer]
    added: dict[int, int] = field(default_factory=dict)  # activity id -> answers stored


def _check(batch: _Batch, req: AnswerRequest) -> tuple[Activity, tuple[int, ...], str, str]:
    activity = batch.activities.get(req.activity_id)
    if activity is None:
        raise NotFound("activity")
    viewer = batch.viewers[(req.user.id, activity.event_id, activity.group_id)]
    if not authz_board.may_read_board(viewer) or activity.state == State.DRAFT:
        raise NotFound("activity")  # another event's (or group's) activity, or a draft
    if not authz_board.may_post_on_board(viewer):
        raise Forbidden("only the event's participants and trainers answer")
    if effective_state(activity) != State.OPEN:
        raise Conflict("activity_closed", "this activity is closed and takes no answers")
    if activity.kind == Kind.POLL:
        picked = check_choices(PollShape(len(activity.options), activity.multiple), req.choices)
        return activity, picked, "", ""
    return activity, (), req.text.strip(), check_term(req.text)


def _store_one(db: AsyncSession, batch: _Batch, req: AnswerRequest) -> Answered:
    activity, picked, text, term = _check(batch, req)
    key = (activity.id, req.user.id)
    row = batch.existing.get(key)
    now = utcnow()
    if row is not None and not activity.changeable:
        raise Conflict("already_answered", "you answered this already; it cannot be changed")
    if row is None:
        row = ActivityAnswer(activity_id=activity.id, user_id=req.user.id, choices=list(picked),
                             text=text, term=term, created_at=now, updated_at=now)
        db.add(row)
        batch.existing[key] = row
        changed = False
    else:
        row.choices, row.text, row.term, row.updated_at = list(picked), text, term, now
        changed = True
    batch.added[activity.id] = batch.added.get(activity.id, 0) + 1
    return Answered(activity.id, activity.event_id, answer_view(activity, row), changed)


async def answer_many(db: AsyncSession, reqs: Sequence[AnswerRequest]) -> list[AnswerOutcome]:
    ids = sorted({r.activity_id for r in reqs})
    stmt = select(Activity).where(Activity.id.in_(ids)).order_by(Activity.id).with_for_update()
    activities = {a.id: a for a in (await db.execute(stmt)).scalars()}
    pairs = list({(r.activity_id, r.user.id) for r in reqs if r.activity_id in activities})
    existing: dict[tuple[int, int], ActivityAnswer] = {}
    if pairs:
        rows = await db.execute(select(ActivityAnswer).where(
            tuple_(ActivityAnswer.activity_id, ActivityAnswer.user_id).in_(pairs)))
        existing = {(r.activity_id, r.user_id): r for r in rows.scalars()}
    viewers = await authz_board.board_viewers(db, [
        (r.user, activities[r.activity_id].event_id, activities[r.activity_id].group_id)
        for r in reqs if r.activity_id in activities
    ])
    batch = _Batch(activities, existing, viewers)
    outcomes: list[AnswerOutcome] = []
    for req in reqs:
        try:
            outcomes.append(_store_one(db, batch, req))
        except DomainError as refused:
            outcomes.append(refused)
    await db.flush()
    for activity_id, n in batch.added.items():
        await db.execute(
            update(Activity).where(Activity.id == activity_id)
            .values(version=Activity.version + n)
        )
    return outcomes


# --- tallies -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    activity_id: int
    version: int
    total: int
    counts: list[int]  # a poll: answers per option
    terms: list[tuple[str, int]]  # a word cloud: the top terms, hidden ones left out
    hidden: list[tuple[str, int]]  # a word cloud: the hidden terms' counts (trainers)

    def body(self, *, shown: bool, full: bool = False) -> dict[str, Any]:
        """What the room sees (``shown``: results revealed) or a trainer (``full``)."""
        out: dict[str, Any] = {
            "activity_id": self.activity_id, "version": self.version, "total": self.total,
            "shown": shown,
        }
        if shown or full:
            out["counts"] = self.counts
            out["terms"] = [[t, n] for t, n in self.terms]
        if full:
            out["hidden"] = [[t, n] for t, n in self.hidden]
        return out


async def read_tally(db: AsyncSession, activity: Activity) -> Tally:
    # One statement: the version and the answers it counted come from one snapshot.
    rows = (await db.execute(
        select(Activity.version, ActivityAnswer.choices, ActivityAnswer.term)
        .select_from(Activity)
        .outerjoin(ActivityAnswer, ActivityAnswer.activity_id == Activity.id)
        .where(Activity.id == activity.id)
    )).all()
    version = rows[0][0] if rows else 0
    answers = [(choices, term) for _, choices, term in rows if choices is not None]
    hidden = set(activity.hidden_terms)
    if activity.kind == Kind.POLL:
        counts = tally_choices(len(activity.options), (c for c, _ in answers))
        return Tally(activity.id, version, len(answers), counts, [], [])
    terms = [t for _, t in answers]
    return Tally(
        activity.id, version, len(answers), [], tally_terms(terms, hidden),
        [(t, n) for t, n in tally_terms(terms, top=10_000) if t in hidden],
    )


async def my_answer(db: AsyncSession, activity: Activity, user_id: int) -> dict[str, Any] | None:
    row = (await db.execute(select(ActivityAnswer).where(
        ActivityAnswer.activity_id == activity.id, ActivityAnswer.user_id == user_id
    ))).scalar_one_or_none()
    return answer_view(activity, row) if row is not None else None


# --- exports, scores, a person's own data --------------------------------------------


async def answers_with_names(
    db: AsyncSession, activity: Activity
) -> list[tuple[ActivityAnswer, str]]:
    rows = await db.execute(
        select(ActivityAnswer, User.display_name)
        .join(User, User.id == ActivityAnswer.user_id)
        .where(ActivityAnswer.activity_id == activity.id)
        .order_by(ActivityAnswer.created_at, ActivityAnswer.id)
    )
    return [(a, name) for a, name in rows.all()]


async def scores(
    db: AsyncSession, event_id: int, *, revealed_only: bool, user_id: int | None = None
) -> list[QuizScore]:
    """Quiz scores over the event's quizzes (all, or those whose results are shown)."""
    stmt = select(Activity).where(Activity.event_id == event_id,
                                  Activity.state != State.DRAFT.value)
    if revealed_only:
        stmt = stmt.where(Activity.results_shown.is_(True))
    correct = {a.id: a.correct for a in (await db.execute(stmt)).scalars() if a.correct}
    if not correct:
        return []
    ans = select(ActivityAnswer.user_id, ActivityAnswer.activity_id, ActivityAnswer.choices).where(
        ActivityAnswer.activity_id.in_(list(correct)))
    if user_id is not None:
        ans = ans.where(ActivityAnswer.user_id == user_id)
    return quiz_scores(((u, a, c) for u, a, c in await db.execute(ans)), correct)


async def answers_of(db: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    """A person's own answers, for their data export (what they typed, not just the term)."""
    rows = await db.execute(
        select(ActivityAnswer, Activity)
        .join(Activity, Activity.id == ActivityAnswer.activity_id)
        .where(ActivityAnswer.user_id == user_id)
        .order_by(ActivityAnswer.id)
    )
    return [
        {
            "activity_id": act.id, "event_id": act.event_id, "group_id": act.group_id,
            "kind": act.kind, "question": act.title,
            "choices": [act.options[c] for c in ans.choices if 0 <= c < len(act.options)],
            "text": ans.text, "answered_at": ans.created_at.isoformat(),
            "changed_at": ans.updated_at.isoformat(),
        }
        for ans, act in rows.all()
    ]


async def erase_answers(db: AsyncSession, user_id: int) -> int:
    """The erasure part: a person's answers go (tallies count what is left)."""
    result = await db.execute(delete(ActivityAnswer).where(ActivityAnswer.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
