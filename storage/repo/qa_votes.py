"""Upvotes, many in one transaction (the batched path behind ``POST /api/qa/questions/{id}/vote``).

"Vote for the questions you want answered" brings a burst of upvotes, so they
go through the batch writer (``storage/batch_writer.py``) like note releases:
the questions, their Q&As, the voters' roles and their existing votes are read
with one query each, every request is checked against the same rules in order
(so a double click in one batch is refused like one in two batches), the new
rows are inserted and the withdrawn ones deleted together, and each touched
question's count is recomputed from its rows. Each touched Q&A's
``vote_version`` is bumped once: the coalesced ``qa.votes`` event carries it.

A refused vote (404, 403, 409) is an answer for that request alone. A second
process storing the same vote at the same moment trips the primary key, which
fails the transaction; the writer then retries one by one, and the retry sees
the other process's vote and refuses it like any second vote.

Locks (PostgreSQL): questions in id order, then their Q&As in id order.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.errors import Conflict, DomainError, Forbidden, NotFound
from storage.models import Question, QuestionBoard, QuestionVote, User, utcnow
from storage.qa_core import State, visible_to


@dataclass(frozen=True, slots=True)
class VoteRequest:
    actor: User  # signed in; read in the request's own session, only its fields are used
    question_id: int
    up: bool  # False: withdraw the vote


@dataclass(frozen=True, slots=True)
class Voted:
    question_id: int
    qa_id: int
    votes: int  # the question's count after this batch
    my_vote: bool


VoteOutcome = Voted | DomainError


def _check(req: VoteRequest, q: Question | None, board: QuestionBoard | None,
           viewer: authz_board.BoardViewer | None) -> tuple[Question, QuestionBoard]:
    if q is None or board is None or viewer is None:
        raise NotFound("question")
    if not authz_board.may_read_board(viewer):
        raise NotFound("question")  # an outsider learns nothing
    mine = q.author_id is not None and q.author_id == req.actor.id
    if not visible_to(State(q.state), mine=mine, moderator=authz_board.may_moderate_board(viewer)):
        raise NotFound("question")
    if not authz_board.may_post_on_board(viewer):
        raise Forbidden("you may not vote here")
    if q.state != State.VISIBLE.value:
        raise Conflict("not_visible", "votes are for questions the room can see")
    if req.up and not board.open:
        raise Conflict("qa_closed", "this Q&A is closed")
    return q, board


async def vote_many(db: AsyncSession, reqs: list[VoteRequest]) -> list[VoteOutcome]:
    """Apply ``reqs`` in order inside the caller's transaction (see the module doc)."""
    qids = sorted({r.question_id for r in reqs})
    questions = {
        q.id: q for q in (await db.execute(
            select(Question).where(Question.id.in_(qids)).order_by(Question.id).with_for_update()
        )).scalars()
    }
    board_ids = sorted({q.board_id for q in questions.values()})
    boards = {
        b.id: b for b in (await db.execute(
            select(QuestionBoard).where(QuestionBoard.id.in_(board_ids))
            .order_by(QuestionBoard.id).with_for_update()
        )).scalars()
    } if board_ids else {}
    viewers = await authz_board.board_viewers(db, [
        (r.actor, boards[q.board_id].event_id, boards[q.board_id].group_id)
        for r in reqs if (q := questions.get(r.question_id)) is not None
    ])
    uids = {r.actor.id for r in reqs}
    have = {
        (qid, uid) for qid, uid in await db.execute(
            select(QuestionVote.question_id, QuestionVote.user_id).where(
                QuestionVote.question_id.in_(qids), QuestionVote.user_id.in_(uids)
            )
        )
    }
    added: set[tuple[int, int]] = set()
    removed: set[tuple[int, int]] = set()
    done: list[tuple[int, int, bool] | DomainError] = []
    for req in reqs:
        q = questions.get(req.question_id)
        board = boards.get(q.board_id) if q is not None else None
        viewer = (viewers.get((req.actor.id, board.event_id, board.group_id))
                  if board is not None else None)
        try:
            q, board = _check(req, q, board, viewer)
        except DomainError as refused:
            done.append(refused)
            continue
        key = (q.id, req.actor.id)
        if req.up and key in have:
            done.append(Conflict("already_voted", "you have voted for this question already"))
            continue
        if not req.up and key not in have:
            done.append(NotFound("vote"))
            continue
        _toggle(key, req.up, have, added, removed)
        done.append((q.id, board.id, req.up))
    await _store(db, added, removed, questions)
    return [
        d if isinstance(d, DomainError) else Voted(d[0], d[1], questions[d[0]].votes, d[2])
        for d in done
    ]


def _toggle(key: tuple[int, int], up: bool, have: set[tuple[int, int]],
            added: set[tuple[int, int]], removed: set[tuple[int, int]]) -> None:
    """Net effect within the batch: a vote withdrawn and cast again is no change."""
    if up:
        have.add(key)
        if key in removed:
            removed.discard(key)
        else:
            added.add(key)
    else:
        have.discard(key)
        if key in added:
            added.discard(key)
        else:
            removed.add(key)


async def _store(db: AsyncSession, added: set[tuple[int, int]], removed: set[tuple[int, int]],
                 questions: dict[int, Question]) -> None:
    if removed:
        await db.execute(delete(QuestionVote).where(
            tuple_(QuestionVote.question_id, QuestionVote.user_id).in_(sorted(removed))
        ))
    now = utcnow()
    db.add_all(QuestionVote(question_id=qid, user_id=uid, created_at=now)
               for qid, uid in sorted(added))
    await db.flush()
    touched = sorted({qid for qid, _ in added | removed})
    if not touched:
        return
    counts = dict((await db.execute(
        select(QuestionVote.question_id, func.count())
        .where(QuestionVote.question_id.in_(touched)).group_by(QuestionVote.question_id)
    )).all())
    for qid in touched:
        questions[qid].votes = int(counts.get(qid, 0))
    await db.execute(
        update(QuestionBoard)
        .where(QuestionBoard.id.in_(sorted({questions[qid].board_id for qid in touched})))
        .values(vote_version=QuestionBoard.vote_version + 1)
    )


async def vote_counts(db: AsyncSession, qa_id: int) -> tuple[int, list[dict[str, int]]]:
    """A Q&A's vote version and the counts of its visible questions, read together."""
    version = (await db.execute(
        select(QuestionBoard.vote_version).where(QuestionBoard.id == qa_id)
    )).scalar_one_or_none()
    rows = await db.execute(
        select(Question.id, Question.votes)
        .where(Question.board_id == qa_id, Question.state == State.VISIBLE.value)
        .order_by(Question.id)
    )
    return int(version or 0), [{"id": qid, "votes": n} for qid, n in rows]
