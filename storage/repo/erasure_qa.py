"""The Q&A part of erasing a person (called by ``storage.repo.erasure.erase_user``).

A question someone else voted for stays as a nameless tombstone (``erased``,
author unlinked; its text blanked when the person asked for erasure of content),
like a thread post others answered: the votes of the others are theirs. Any
other question of theirs is deleted. Their own votes go, and the counts they
were part of are recounted. The board events that carried their questions'
text (and, for a named question, their name) are redacted whoever emitted them.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Question, QuestionBoard, QuestionVote
from storage.repo.qa import redact_question_events


async def erase_qa(db: AsyncSession, user_id: int, *, erase_content: bool) -> dict[str, int]:
    questions = list(
        (await db.execute(select(Question).where(Question.author_id == user_id))).scalars()
    )
    channels = dict(
        (await db.execute(
            select(QuestionBoard.id, QuestionBoard.channel)
            .where(QuestionBoard.id.in_({q.board_id for q in questions}))
        )).all()
    ) if questions else {}
    kept = deleted = 0
    for q in questions:
        await redact_question_events(db, channels[q.board_id], q)
        others = (await db.execute(
            select(QuestionVote.user_id)
            .where(QuestionVote.question_id == q.id, QuestionVote.user_id != user_id).limit(1)
        )).first()
        if others is not None:
            kept += 1
            q.author_id, q.erased = None, True
            if erase_content:
                q.text = ""
        else:
            deleted += 1
            await db.execute(
                update(Question).where(Question.merged_into == q.id).values(merged_into=None)
            )
            await db.execute(delete(QuestionVote).where(QuestionVote.question_id == q.id))
            await db.delete(q)
    voted = list((await db.execute(
        select(QuestionVote.question_id).where(QuestionVote.user_id == user_id)
    )).scalars())
    await db.execute(delete(QuestionVote).where(QuestionVote.user_id == user_id))
    await db.flush()
    for qid in voted:
        count = select(func.count()).where(QuestionVote.question_id == qid)
        await db.execute(
            update(Question).where(Question.id == qid)
            .values(votes=count.scalar_subquery())
        )
    return {"questions_deleted": deleted, "questions_kept": kept, "question_votes": len(voted)}
