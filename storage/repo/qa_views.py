"""The shapes of a Q&A and its questions, and the reads built on them.

"Anonymous but accountable" is decided here, in one place: a question asked
anonymously is shown to everyone (the room, its trainers, their export, the
channel log) without ``author``; its stored ``author_id`` leaves the server only
through the audited admin reveal (``reveal_author``), the author's own view
(``mine``) and the author's data export (``questions_of``). See docs/privacy.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Question, QuestionBoard, QuestionVote, User
from storage.qa_core import Order, Ranked, State, ordered
from storage.repo import channel_log

FORMER = "former participant"


def qa_view(board: QuestionBoard) -> dict[str, Any]:
    return {
        "id": board.id,
        "event_id": board.event_id,
        "group_id": board.group_id,
        "channel": board.channel,
        "open": board.open,
        "premoderation": board.premoderation,
        "anonymous": board.anonymous,
    }


def author_of(q: Question, names: dict[int, str]) -> dict[str, Any] | None:
    """Who the room may see as the asker: nobody for an anonymous or erased author."""
    if q.anonymous or q.erased or q.author_id is None:
        return None
    return {"id": q.author_id, "name": names.get(q.author_id, FORMER)}


def room_view(q: Question, names: dict[int, str]) -> dict[str, Any]:
    """A question as the room sees it: what goes into the board channel's events."""
    return {
        "id": q.id,
        "qa_id": q.board_id,
        "text": q.text,
        "state": q.state,
        "answered": q.answered,
        "pinned": q.pinned,
        "votes": q.votes,
        "anonymous": q.anonymous,
        "author": author_of(q, names),
        "merged_into": q.merged_into,
        "erased": q.erased,
        "created_at": q.created_at.isoformat(),
    }


def seen_view(
    q: Question, names: dict[int, str], viewer_id: int, my_votes: set[int]
) -> dict[str, Any]:
    """The room view plus what only this viewer knows: their own question, their vote."""
    return {**room_view(q, names), "mine": q.author_id == viewer_id, "my_vote": q.id in my_votes}


async def names_of(db: AsyncSession, questions: Iterable[Question]) -> dict[int, str]:
    ids = {q.author_id for q in questions if q.author_id is not None and not q.anonymous}
    if not ids:
        return {}
    rows = await db.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {uid: name for uid, name in rows}


async def my_votes(db: AsyncSession, user_id: int, question_ids: list[int]) -> set[int]:
    if not question_ids:
        return set()
    rows = await db.execute(
        select(QuestionVote.question_id).where(
            QuestionVote.user_id == user_id, QuestionVote.question_id.in_(question_ids)
        )
    )
    return set(rows.scalars())


async def questions_as_seen(
    db: AsyncSession, user_id: int, questions: list[Question]
) -> list[dict[str, Any]]:
    names = await names_of(db, questions)
    votes = await my_votes(db, user_id, [q.id for q in questions])
    return [seen_view(q, names, user_id, votes) for q in questions]


def sort_questions(questions: list[Question], order: Order) -> list[Question]:
    by_id = {q.id: q for q in questions}
    ranked = ordered(
        (Ranked(q.id, q.votes, q.pinned, q.answered) for q in questions), order
    )
    return [by_id[r.id] for r in ranked]


async def snapshot(
    db: AsyncSession, board: QuestionBoard, user_id: int, *, moderator: bool, order: Order
) -> dict[str, Any]:
    """The Q&A as this viewer sees it and the channel's last sequence, read first (as the
    pinboard's snapshot: a change in between is then also replayed; every Q&A event sets
    state, so applying it twice is harmless)."""
    last_seq = await channel_log.last_seq(db, board.channel)
    seen = [State.VISIBLE.value]
    if moderator:
        seen += [State.PENDING.value, State.HIDDEN.value]
    rows = (
        await db.execute(
            select(Question).where(
                Question.board_id == board.id,
                or_(
                    Question.state.in_(seen),
                    (Question.author_id == user_id) & (Question.state != State.MERGED.value),
                ),
            )
        )
    ).scalars()
    questions = sort_questions(list(rows), order)
    return {
        "qa": qa_view(board),
        "last_seq": last_seq,
        "order": order.value,
        "moderator": moderator,
        "questions": await questions_as_seen(db, user_id, questions),
    }


EXPORT_COLUMNS = (
    "id", "created_at", "state", "answered", "pinned", "votes", "merged_into", "author", "text",
)


async def export_rows(db: AsyncSession, board: QuestionBoard) -> AsyncIterator[dict[str, Any]]:
    """Every question of a Q&A for its trainers: anonymous ones without an author."""
    questions = list(
        (
            await db.execute(
                select(Question).where(Question.board_id == board.id).order_by(Question.id)
            )
        ).scalars()
    )
    names = await names_of(db, questions)
    for q in questions:
        who = author_of(q, names)
        yield {
            "id": q.id,
            "created_at": q.created_at.isoformat(),
            "state": q.state,
            "answered": q.answered,
            "pinned": q.pinned,
            "votes": q.votes,
            "merged_into": q.merged_into,
            "author": who["name"] if who else ("former participant" if q.erased else "anonymous"),
            "text": q.text,
        }


async def qa_data(db: AsyncSession, user_id: int) -> dict[str, Any]:
    """The person's questions (anonymous ones included: they are theirs) and upvotes."""
    questions = [
        {
            "id": q.id,
            "qa_id": q.board_id,
            "text": q.text,
            "anonymous": q.anonymous,
            "state": q.state,
            "answered": q.answered,
            "votes": q.votes,
            "created_at": q.created_at.isoformat(),
        }
        for q in (
            await db.execute(
                select(Question).where(Question.author_id == user_id).order_by(Question.id)
            )
        ).scalars()
    ]
    votes = [
        {"question_id": v.question_id, "created_at": v.created_at.isoformat()}
        for v in (
            await db.execute(
                select(QuestionVote)
                .where(QuestionVote.user_id == user_id)
                .order_by(QuestionVote.question_id)
            )
        ).scalars()
    ]
    return {"questions": questions, "question_votes": votes}
